#pragma once

#include <atomic>
#include <filesystem>
#include <span>
#include <string_view>

#include "formats/checksum_scan.hpp"
#include "formats/confined_open.hpp"
#include "formats/model_report.hpp"

namespace modeld::formats {

enum class validation_level {
  basic,        // structure and security scan; zip CRCs not checked
  standard,     // plus CRC-32 of stored zip entries up to 64 MiB
  comprehensive // plus one streaming pass: SHA-256, AutoV2/V1, tensor-data hash, NaN/Inf, CRCs
};

struct inspect_options {
  validation_level level = validation_level::standard;
  progress_callback progress;              // called from the inspecting thread
  const std::atomic<bool>* cancel = nullptr;
};

// The validation actor's entry point: maps the file, identifies it by content, parses and
// checks it, scans every pickle, detects architecture, and (comprehensive) hashes and scans
// its numbers. Never throws: every problem, including unexpected internal ones, is an issue.
model_report inspect_file(const std::filesystem::path& path, const inspect_options& options = {});

// The same over a file the caller opened (the service opens with open_beneath, so the file read
// is the one that was checked to lie inside its root); `path` names it in the report.
model_report inspect_opened(unique_fd file, const std::filesystem::path& path, const inspect_options& options = {});

// The same over bytes already in memory (fuzzing, tests); `file_name` supplies the extension.
model_report inspect_bytes(std::span<const std::uint8_t> bytes, std::string_view file_name,
                           const inspect_options& options = {});

} // namespace modeld::formats
