#pragma once

// Little builders for in-memory fixtures: tests assemble exact byte layouts by hand so each
// trick a hostile file could play is reproduced precisely.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::formats::test {

using bytes = std::vector<std::uint8_t>;

inline std::span<const std::uint8_t> view(const bytes& b) { return {b.data(), b.size()}; }

template <class T>
void put(bytes& out, T value) {
  const auto at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &value, sizeof(T));
}

inline void put_str(bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

inline bytes from_string(std::string_view s) { return bytes(s.begin(), s.end()); }

// All bytes of a string literal, embedded NULs included.
template <std::size_t N>
bytes lit(const char (&s)[N]) {
  return bytes(s, s + N - 1);
}

// A safetensors file: u64 length, the header text, then `data_size` bytes of `fill`.
inline bytes safetensors_file(std::string_view header, std::size_t data_size,
                              std::uint8_t fill = 0) {
  bytes out;
  put<std::uint64_t>(out, header.size());
  put_str(out, header);
  out.insert(out.end(), data_size, fill);
  return out;
}

} // namespace modeld::formats::test
