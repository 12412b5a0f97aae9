// Tensor entries for reports the gpu tests build by hand.
#pragma once

#include "formats/tensor_info.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace modeld::test {

// A tensor of `bytes` bytes at `begin`, stored plainly.
inline formats::tensor_info stored_tensor(std::string name, std::string dtype, std::vector<std::uint64_t> shape,
                                          std::uint64_t elements, std::uint64_t begin, std::uint64_t bytes) {
  formats::tensor_info t;
  t.name = std::move(name);
  t.dtype = std::move(dtype);
  t.shape = std::move(shape);
  t.element_count = elements;
  t.data_begin = begin;
  t.data_end = begin + bytes;
  t.byte_size = bytes;
  return t;
}

} // namespace modeld::test
