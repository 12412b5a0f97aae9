#pragma once

// Minimal protobuf encoder for ONNX fixtures.

#include "bytes.hpp"

namespace modeld::formats::test {

class pb {
public:
  pb& varint_field(std::uint32_t number, std::uint64_t value) {
    varint(out_, (static_cast<std::uint64_t>(number) << 3) | 0);
    varint(out_, value);
    return *this;
  }
  pb& bytes_field(std::uint32_t number, const bytes& payload) {
    varint(out_, (static_cast<std::uint64_t>(number) << 3) | 2);
    varint(out_, payload.size());
    out_.insert(out_.end(), payload.begin(), payload.end());
    return *this;
  }
  pb& string_field(std::uint32_t number, std::string_view s) {
    return bytes_field(number, bytes(s.begin(), s.end()));
  }
  pb& message(std::uint32_t number, const pb& inner) { return bytes_field(number, inner.out_); }
  pb& raw(const bytes& b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  const bytes& build() const { return out_; }

  static void varint(bytes& out, std::uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
  }

private:
  bytes out_;
};

} // namespace modeld::formats::test
