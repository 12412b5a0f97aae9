#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace modeld::formats {

// Protocol-buffer wire format, read without a schema compiler: varints (at most 10 bytes, the
// 10th at most 1), tags with field number >= 1 and wire types 0, 1, 2, 5 (groups, 3 and 4, are
// long deprecated and rejected), and length-delimited fields bounded by their enclosing message.
class protobuf_reader {
public:
  enum wire : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

  struct field {
    std::uint32_t number = 0;
    wire type = varint;
    std::uint64_t value = 0;               // varint and fixed values
    std::span<const std::uint8_t> bytes;   // length-delimited payload
    std::uint64_t offset = 0;              // absolute offset of the payload
  };

  protobuf_reader(std::span<const std::uint8_t> bytes, std::uint64_t base_offset) noexcept
    : bytes_(bytes), base_(base_offset) {
  }

  bool at_end() const noexcept { return pos_ == bytes_.size(); }
  std::uint64_t offset() const noexcept { return base_ + pos_; }

  // Reads the next field; nullopt on malformed input (then `malformed()` is true).
  std::optional<field> next() noexcept {
    const auto tag = read_varint();
    if (!tag || (*tag >> 3) == 0 || (*tag >> 3) > 0x1FFFFFFF)
      return bad();
    field f;
    f.number = static_cast<std::uint32_t>(*tag >> 3);
    const auto type = static_cast<std::uint8_t>(*tag & 7);
    switch (type) {
      case varint: {
        const auto v = read_varint();
        if (!v)
          return bad();
        f.type = varint;
        f.value = *v;
        return f;
      }
      case fixed64:
      case fixed32: {
        const std::size_t size = type == fixed64 ? 8 : 4;
        if (bytes_.size() - pos_ < size)
          return bad();
        f.type = static_cast<wire>(type);
        for (std::size_t i = 0; i < size; ++i)
          f.value |= static_cast<std::uint64_t>(bytes_[pos_ + i]) << (8 * i);
        pos_ += size;
        return f;
      }
      case length_delimited: {
        const auto length = read_varint();
        if (!length || *length > bytes_.size() - pos_)
          return bad();
        f.type = length_delimited;
        f.offset = base_ + pos_;
        f.bytes = bytes_.subspan(pos_, *length);
        pos_ += *length;
        return f;
      }
      default: return bad();
    }
  }

  bool malformed() const noexcept { return malformed_; }

  // Decodes varints packed in `payload`; false when one is malformed.
  static bool count_packed_varints(std::span<const std::uint8_t> payload, std::uint64_t& count) {
    protobuf_reader r(payload, 0);
    count = 0;
    while (!r.at_end()) {
      if (!r.read_varint())
        return false;
      ++count;
    }
    return true;
  }

  std::optional<std::uint64_t> read_varint() noexcept {
    std::uint64_t value = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ == bytes_.size())
        return std::nullopt;
      const auto b = bytes_[pos_++];
      if (i == 9 && b > 1)
        return std::nullopt;
      value |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
      if (!(b & 0x80))
        return value;
    }
    return std::nullopt;
  }

private:
  std::nullopt_t bad() noexcept {
    malformed_ = true;
    return std::nullopt;
  }

  std::span<const std::uint8_t> bytes_;
  std::uint64_t base_ = 0;
  std::size_t pos_ = 0;
  bool malformed_ = false;
};

} // namespace modeld::formats
