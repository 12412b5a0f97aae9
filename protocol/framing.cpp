#include "protocol/framing.hpp"

namespace modeld::protocol {

std::string_view strip_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  constexpr std::string_view bom = "\xEF\xBB\xBF";
  if (line.starts_with(bom))
    line.remove_prefix(bom.size());
  return line;
}

} // namespace modeld::protocol
