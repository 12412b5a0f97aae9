#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace modeld::formats {

// Little-endian cursor over untrusted bytes. Every read is bounds-checked and fails (returns
// nullopt, cursor unchanged) instead of reading past the end, so parsers can never be tricked
// into touching memory outside the file by a length they read from it.
class byte_reader {
public:
  explicit byte_reader(std::span<const std::uint8_t> bytes, std::uint64_t base_offset = 0) noexcept
    : bytes_(bytes), base_(base_offset) {
  }

  std::uint64_t position() const noexcept { return pos_; }
  // Offset of the cursor in the enclosing file, for issue locations.
  std::uint64_t file_offset() const noexcept { return base_ + pos_; }
  std::uint64_t remaining() const noexcept { return bytes_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == bytes_.size(); }

  bool seek(std::uint64_t position) noexcept {
    if (position > bytes_.size())
      return false;
    pos_ = position;
    return true;
  }

  bool skip(std::uint64_t count) noexcept {
    if (count > remaining())
      return false;
    pos_ += count;
    return true;
  }

  template <class T>
  std::optional<T> read() noexcept {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T))
      return std::nullopt;
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T)); // hosts are little-endian (x86, arm)
    pos_ += sizeof(T);
    return value;
  }

  std::optional<std::span<const std::uint8_t>> read_bytes(std::uint64_t count) noexcept {
    if (count > remaining())
      return std::nullopt;
    auto out = bytes_.subspan(pos_, count);
    pos_ += count;
    return out;
  }

  std::optional<std::string_view> read_string(std::uint64_t count) noexcept {
    auto raw = read_bytes(count);
    if (!raw)
      return std::nullopt;
    return std::string_view(reinterpret_cast<const char*>(raw->data()), raw->size());
  }

  std::optional<std::uint8_t> peek() const noexcept {
    if (at_end())
      return std::nullopt;
    return bytes_[pos_];
  }

private:
  std::span<const std::uint8_t> bytes_;
  std::uint64_t base_ = 0;
  std::uint64_t pos_ = 0;
};

template <class T>
inline std::optional<T> load_le(std::span<const std::uint8_t> bytes, std::uint64_t offset) noexcept {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T))
    return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

inline std::string_view as_chars(std::span<const std::uint8_t> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

} // namespace modeld::formats
