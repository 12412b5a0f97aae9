#include "gpu/byte_size.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

namespace modeld::gpu {
namespace {

constexpr std::array<std::pair<std::string_view, std::uint64_t>, 14> units{{
  {"", 1},
  {"b", 1},
  {"k", 1ull << 10},
  {"kb", 1ull << 10},
  {"kib", 1ull << 10},
  {"m", 1ull << 20},
  {"mb", 1ull << 20},
  {"mib", 1ull << 20},
  {"g", 1ull << 30},
  {"gb", 1ull << 30},
  {"gib", 1ull << 30},
  {"t", 1ull << 40},
  {"tb", 1ull << 40},
  {"tib", 1ull << 40},
}};

std::optional<std::uint64_t> unit_multiplier(std::string_view suffix) {
  std::string lowered;
  for (char c : suffix) {
    if (c == ' ')
      continue;
    lowered.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  for (auto& [name, multiplier] : units)
    if (name == lowered)
      return multiplier;
  return std::nullopt;
}

} // namespace

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  if (text.empty() || text.size() > 64)
    return std::nullopt;
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc{} || end == text.data() || !std::isfinite(number) || number < 0)
    return std::nullopt;
  auto multiplier = unit_multiplier(std::string_view(end, text.data() + text.size() - end));
  if (!multiplier)
    return std::nullopt;
  long double bytes = static_cast<long double>(number) * static_cast<long double>(*multiplier);
  if (bytes >= 18446744073709551615.0L || bytes != std::floor(bytes))
    return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::string format_byte_size(std::uint64_t bytes) {
  constexpr std::array<std::pair<const char*, std::uint64_t>, 4> named{{
    {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}}};
  for (auto [name, size] : named)
    if (bytes >= size && bytes % size == 0)
      return std::to_string(bytes / size) + name;
  for (auto [name, size] : named)
    if (bytes >= size) {
      char buffer[64];
      std::snprintf(buffer, sizeof buffer, "%.2f%s", static_cast<double>(bytes) / static_cast<double>(size), name);
      return buffer;
    }
  return std::to_string(bytes) + "B";
}

} // namespace modeld::gpu
