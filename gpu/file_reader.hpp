// A model file opened for reading byte ranges into memory with pread: no mapping, so a file
// truncated while it is read is an error, never a SIGBUS. Shared by the host buffer reads of the
// RAM cache and the direct reads of a virtual CPU device.
#pragma once

#include "formats/confined_open.hpp"
#include "gpu/progress_meter.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace modeld::gpu {

class file_reader {
public:
  // Opens a regular file for reading by path; the reason on failure ("cannot open PATH: ...").
  // For tools and tests: the service opens model files with formats::open_beneath and adopts.
  static std::variant<file_reader, std::string> open(const std::string& path);
  // Reads through `file` (a regular file); `path` names it in errors.
  static file_reader adopt(formats::unique_fd file, std::string path);

  file_reader(file_reader&& other) noexcept;
  file_reader& operator=(file_reader&&) = delete;
  file_reader(const file_reader&) = delete;
  file_reader& operator=(const file_reader&) = delete;
  ~file_reader();

  std::uint64_t size() const { return size_; } // as fstat gave it at open
  const std::string& path() const { return path_; }

  // Reads exactly `bytes` from `offset` into `to` (safe from several threads at once); the
  // reason when the file is shorter than that now ("shrank while being read ...") or a read
  // fails.
  std::optional<std::string> read_exactly(std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) const;

  // Reads [0, size()) into `to`, one share per core (run_in_shares), adding each chunk to
  // `progress` when there is one.
  std::optional<std::string> read_all_in_parallel(std::uint8_t* to, progress_meter* progress = nullptr) const;

private:
  file_reader(int fd, std::uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string path_;
};

} // namespace modeld::gpu
