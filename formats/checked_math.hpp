#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace modeld::formats {

// Overflow-checked arithmetic for sizes read from files: a wrapped product (2^42+1 elements
// wrapping to a small byte count) is how several loaders were tricked into short buffers.
inline std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t out;
  if (__builtin_mul_overflow(a, b, &out))
    return std::nullopt;
  return out;
}

inline std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t out;
  if (__builtin_add_overflow(a, b, &out))
    return std::nullopt;
  return out;
}

// Product of all dimensions; an empty shape (a scalar) has one element.
inline std::optional<std::uint64_t> checked_product(std::span<const std::uint64_t> dims) noexcept {
  std::uint64_t total = 1;
  for (auto d : dims) {
    auto next = checked_mul(total, d);
    if (!next)
      return std::nullopt;
    total = *next;
  }
  return total;
}

} // namespace modeld::formats
