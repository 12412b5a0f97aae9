#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/dtype.hpp"
#include "formats/mapped_file.hpp"

namespace modeld::formats {

// A byte range the numerics pass looks at: floating tensors for NaN/Inf, and stored zip entries
// whose CRC-32 is still to be verified.
struct data_region {
  std::string name;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  float_kind kind = float_kind::none;
  std::optional<std::uint32_t> expected_crc;
};

struct scan_request {
  bool hash = true;                              // SHA-256, AutoV2, AutoV1
  std::optional<std::uint64_t> tensor_data_start; // also hash [start, EOF) (safetensors)
  std::vector<data_region> regions;              // need not be sorted
};

struct region_finding {
  std::string name;
  std::uint64_t nan_count = 0;
  std::uint64_t inf_count = 0;
  bool crc_mismatch = false;
};

struct scan_result {
  bool cancelled = false;
  std::string sha256;
  std::string autov2;
  std::string autov1;
  std::string tensor_sha256;
  std::uint64_t nan_count = 0;
  std::uint64_t inf_count = 0;
  std::uint64_t values_scanned = 0;
  std::uint64_t regions_scanned = 0;
  std::vector<region_finding> findings; // regions with NaN, Inf or a bad CRC
};

// Called from the scanning (caller's) thread after each chunk.
using progress_callback =
  std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes, std::string_view stage)>;

// One front-to-back pass over the file on two threads: this thread hashes, a second counts
// NaN/Inf, hashes the tensor data and checks CRCs, chunk by chunk over the same mapping. The
// threads stay within a bounded distance of each other and pages both have passed are released,
// so the resident set stays constant whatever the file size. `cancel` is polled per chunk.
scan_result scan_mapped(const mapped_file& file, const scan_request& request,
                        const progress_callback& progress, const std::atomic<bool>& cancel);

// The same over plain memory (fuzzing, tests); nothing to release.
scan_result scan_bytes(std::span<const std::uint8_t> bytes, const scan_request& request,
                       const progress_callback& progress, const std::atomic<bool>& cancel);

// NaN and Inf counts of `count` little-endian values of `kind` at `data`.
void count_non_finite(const std::uint8_t* data, std::uint64_t count, float_kind kind,
                      std::uint64_t& nan, std::uint64_t& inf) noexcept;

} // namespace modeld::formats
