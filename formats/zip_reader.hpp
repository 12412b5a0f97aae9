#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/issue.hpp"

namespace modeld::formats {

struct zip_entry {
  std::string name;
  std::uint16_t flags = 0;
  std::uint16_t method = 0; // 0 stored, 8 deflate
  std::uint32_t crc32 = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;
  std::uint64_t data_offset = 0; // absolute offset of the entry's bytes
  std::uint64_t descriptor_size = 0; // bytes of the data descriptor after them (flag bit 3)
  bool data_valid = false;       // local header agreed and the bytes lie inside the file
  bool crc_checked = false;      // the CRC was verified here (else left to a later pass)

  bool stored() const noexcept { return method == 0; }
};

struct zip_options {
  std::size_t max_entries = 100'000;
  std::uint64_t max_total_uncompressed = 1ULL << 42; // 4 TiB
  std::uint64_t max_compression_ratio = 1000;
  // Stored entries up to this size get their CRC-32 checked while reading the directory;
  // larger ones are left for the streaming checksum pass.
  std::uint64_t verify_crc_up_to = 64ULL << 20;
};

struct zip_archive {
  bool parsed = false; // a central directory was found and read
  bool zip64 = false;
  std::uint64_t central_directory_offset = 0;
  std::uint64_t central_directory_size = 0;
  std::vector<zip_entry> entries; // central directory order
  std::unordered_map<std::string, std::size_t> by_name; // first entry of each name

  const zip_entry* find(std::string_view name) const noexcept;
  std::span<const std::uint8_t> data(std::span<const std::uint8_t> file,
                                     const zip_entry& entry) const noexcept;
};

// Reads a zip archive strictly. This reader is hand-written rather than libzip or miniz because
// those accept, silently, exactly the tricks that hide payloads from scanners: a local header
// whose name differs from the central directory's, data prepended or appended to the archive,
// entries overlapping each other, bad CRCs, duplicate names. Each of those is reported here.
// Codes: ZIP_*.
zip_archive read_zip(std::span<const std::uint8_t> file, issue_sink& issues,
                     const zip_options& options = {});

// "PK\x03\x04" at the start.
bool looks_like_zip(std::span<const std::uint8_t> file) noexcept;

// Whether a zip entry name could escape an extraction directory or is otherwise unsafe.
bool is_unsafe_zip_name(std::string_view name) noexcept;

} // namespace modeld::formats
