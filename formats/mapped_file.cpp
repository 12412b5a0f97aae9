#include "formats/mapped_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace modeld::formats {

namespace {

std::uint64_t page_size() noexcept {
  static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

} // namespace

mapped_file::mapped_file(mapped_file&& other) noexcept
  : data_(std::exchange(other.data_, nullptr)),
    size_(std::exchange(other.size_, 0)),
    open_(std::exchange(other.open_, false)) {
}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    this->~mapped_file();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    open_ = std::exchange(other.open_, false);
  }
  return *this;
}

mapped_file::~mapped_file() {
  if (data_ != nullptr && size_ > 0)
    ::munmap(const_cast<std::uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
  open_ = false;
}

mapped_file mapped_file::open(const std::filesystem::path& path, std::string& error) {
  mapped_file result;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = std::strerror(errno);
    return result;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return result;
  }
  if (!S_ISREG(info.st_mode)) {
    // Devices and FIFOs would block or map garbage; model files are regular files.
    error = "not a regular file";
    ::close(fd);
    return result;
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > 0) {
    void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED) {
      error = std::strerror(errno);
      ::close(fd);
      return result;
    }
    result.data_ = static_cast<const std::uint8_t*>(address);
  }
  ::close(fd); // the mapping keeps its own reference to the file
  result.size_ = size;
  result.open_ = true;
  return result;
}

void mapped_file::advise_sequential() const noexcept {
  if (data_ != nullptr && size_ > 0)
    ::madvise(const_cast<std::uint8_t*>(data_), size_, MADV_SEQUENTIAL);
}

void mapped_file::release(std::uint64_t begin, std::uint64_t end) const noexcept {
  if (data_ == nullptr || end > size_ || begin >= end)
    return;
  const auto page = page_size();
  const auto aligned_begin = (begin + page - 1) / page * page;
  const auto aligned_end = end == size_ ? end : end / page * page;
  if (aligned_begin >= aligned_end)
    return;
  ::madvise(const_cast<std::uint8_t*>(data_) + aligned_begin, aligned_end - aligned_begin,
            MADV_DONTNEED);
}

} // namespace modeld::formats
