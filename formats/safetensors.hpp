#pragma once

#include <cstdint>
#include <span>

#include "formats/issue.hpp"
#include "formats/tensor_info.hpp"

namespace modeld::formats {

// The safetensors reference refuses headers above this size (HeaderTooLarge).
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

struct safetensors_info {
  std::uint64_t header_length = 0; // N, the JSON length
  std::uint64_t data_start = 0;    // 8 + N: where tensor data begins
  bool header_parsed = false;      // the JSON parsed and had the right shape
  std::vector<tensor_info> tensors; // header order; offsets made absolute
  metadata_map metadata;            // __metadata__, in header order
};

// Parses and validates a whole safetensors file held in `file`. Only the 8-byte prefix and the
// header are read; tensor bytes are never touched. Codes: SAFETENSORS_*.
safetensors_info parse_safetensors(std::span<const std::uint8_t> file, issue_sink& issues);

// True when the first bytes look like a safetensors length prefix followed by a JSON object:
// the cheap test format sniffing runs before any pickle test.
bool looks_like_safetensors(std::span<const std::uint8_t> file) noexcept;

} // namespace modeld::formats
