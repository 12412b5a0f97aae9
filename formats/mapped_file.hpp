#pragma once

#include "formats/confined_open.hpp"

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace modeld::formats {

// A read-only, private mapping of a whole file. Move-only; unmaps on destruction.
// Mapping instead of reading lets a multi-gigabyte checkpoint be parsed by touching only its
// header pages, and lets the checksum scan stream through the page cache without copies.
//
// A file truncated while mapped would make the next read of a page past its new end raise
// SIGBUS and stop the service. Each mapping is registered with a SIGBUS handler instead: a
// fault inside it maps zeros from the faulting page to the mapping's end (the read then
// completes, seeing zeros) and marks the mapping truncated(), so the caller can discard what
// it parsed. Faults anywhere else go to the handler that was installed before.
class mapped_file {
public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  ~mapped_file();

  // Opens and maps `path`. On failure returns an empty mapping and sets `error` (errno text).
  // A zero-length file yields an empty, valid mapping.
  static mapped_file open(const std::filesystem::path& path, std::string& error);
  // Maps the file behind `fd` (a regular file, e.g. from open_beneath) and closes the descriptor.
  static mapped_file map(unique_fd fd, std::string& error);

  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }
  std::uint64_t size() const noexcept { return size_; }
  bool is_open() const noexcept { return open_; }
  // True once a read fell past the file's end because the file shrank after it was mapped:
  // everything read from this mapping since may be zeros that were never in the file.
  bool truncated() const noexcept;

  // Hints for a front-to-back pass; harmless when the kernel ignores them.
  void advise_sequential() const noexcept;
  // Drops the pages of [begin, end) from this process (the page cache keeps them), so a pass
  // over a huge file keeps a constant resident set.
  void release(std::uint64_t begin, std::uint64_t end) const noexcept;

private:
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  bool open_ = false;
  int guard_ = -1; // slot in the SIGBUS guard table; -1 when unguarded (empty, or table full)
};

} // namespace modeld::formats
