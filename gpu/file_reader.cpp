#include "gpu/file_reader.hpp"

#include "gpu/fresh_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace modeld::gpu {

std::variant<file_reader, std::string> file_reader::open(const std::string& path) {
  auto opened = formats::open_unconfined(path);
  if (auto* refused = std::get_if<formats::open_refusal>(&opened))
    return refused->message;
  return adopt(std::move(std::get<formats::unique_fd>(opened)), path);
}

file_reader file_reader::adopt(formats::unique_fd file, std::string path) {
  struct stat facts {};
  const auto size = ::fstat(file.get(), &facts) == 0 ? static_cast<std::uint64_t>(facts.st_size) : 0;
  ::posix_fadvise(file.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return file_reader(file.release(), size, std::move(path));
}

file_reader::file_reader(file_reader&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), size_(other.size_), path_(std::move(other.path_)) {}

file_reader::~file_reader() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::optional<std::string> file_reader::read_exactly(std::uint8_t* to, std::uint64_t offset,
                                                     std::uint64_t bytes) const {
  for (std::uint64_t done = 0; done < bytes;) {
    const auto got = ::pread(fd_, to + done, bytes - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return path_ + ": cannot read: " + std::strerror(errno);
    if (got == 0)
      return path_ + ": shrank while being read: no bytes at offset " + std::to_string(offset + done) + " of " +
             std::to_string(size_);
    done += static_cast<std::uint64_t>(got);
  }
  return std::nullopt;
}

std::optional<std::string> file_reader::read_all_in_parallel(std::uint8_t* to, progress_meter* progress) const {
  constexpr std::uint64_t chunk = 8 << 20;
  std::mutex guard;
  std::optional<std::string> error;
  run_in_shares(size_, [&](std::uint64_t begin, std::uint64_t end) {
    for (auto at = begin; at < end; at += chunk) {
      if (auto failed = read_exactly(to + at, at, std::min(chunk, end - at))) {
        const std::lock_guard lock(guard);
        error = std::move(failed);
        return;
      }
      if (progress)
        progress->add(std::min(chunk, end - at));
    }
  });
  return error;
}

} // namespace modeld::gpu
