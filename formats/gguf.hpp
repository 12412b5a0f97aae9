#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "formats/issue.hpp"
#include "formats/tensor_info.hpp"

namespace modeld::formats {

struct gguf_info {
  std::uint32_t version = 0;
  std::uint64_t tensor_count = 0;
  std::uint64_t kv_count = 0;
  std::uint64_t alignment = 32;
  std::uint64_t data_offset = 0; // absolute start of the tensor data section
  bool header_parsed = false;
  std::vector<tensor_info> tensors;
  // Every key with a readable rendering: scalars as text, strings verbatim (capped), arrays
  // summarised as "[N x TYPE]".
  metadata_map metadata;
};

// Parses a GGUF v2/v3 file with llama.cpp's loader checks. Codes: GGUF_*.
gguf_info parse_gguf(std::span<const std::uint8_t> file, issue_sink& issues);

bool looks_like_gguf(std::span<const std::uint8_t> file) noexcept;

} // namespace modeld::formats
