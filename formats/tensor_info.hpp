#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace modeld::formats {

// One tensor as a file describes it, whatever the format.
struct tensor_info {
  std::string name;
  // Canonical dtype name: safetensors spellings (F32, BF16, F8_E4M3, ...) for every format that
  // has an equivalent, ggml names (Q4_K, IQ2_XS, ...) for GGUF block types.
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t element_count = 0;
  std::uint64_t byte_size = 0;
  // Absolute file offsets [begin, end) of the tensor's bytes; meaningful only when
  // `data_in_file` (ONNX external data and compressed zip entries are not addressable).
  std::uint64_t data_begin = 0;
  std::uint64_t data_end = 0;
  bool data_in_file = true;
};

using metadata_map = std::vector<std::pair<std::string, std::string>>;

} // namespace modeld::formats
