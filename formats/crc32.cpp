#include "formats/crc32.hpp"

#include <zlib.h>

namespace modeld::formats {

std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t previous) noexcept {
  // zlib answers its initial value (0) for a null buffer whatever `previous` is; an empty span
  // may have a null data().
  if (bytes.empty())
    return previous;
  return static_cast<std::uint32_t>(::crc32_z(previous, bytes.data(), bytes.size()));
}

} // namespace modeld::formats
