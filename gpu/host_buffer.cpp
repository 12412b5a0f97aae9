// Files read into host memory for loads. Kept out of model_loader.cpp so it builds without
// torch headers: anonymous mappings (returned to the OS on release, so load/unload cycles do
// not grow the process) or, where CUDA is present, page-locked memory from cudaHostAlloc.
// torch's pinned allocator is not used on purpose: it caches freed blocks for the process's
// lifetime, and a RAM cache that evicts a model must really give the memory back.
#include "gpu/model_loader.hpp"

#include "gpu/fresh_memory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <cuda_runtime_api.h>
#endif

namespace modeld::gpu {

namespace {

std::string system_error(const std::string& what, const std::string& path, int error) {
  return what + " " + path + ": " + std::strerror(error);
}

class file_descriptor {
public:
  explicit file_descriptor(int fd) : fd_(fd) {}
  ~file_descriptor() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

// Pinned memory from cudaHostAlloc, or fresh pageable memory (see fresh_memory.hpp).
class owned_host_buffer final : public host_buffer {
public:
  owned_host_buffer(std::unique_ptr<fresh_memory> memory, std::uint64_t size)
    : memory_(std::move(memory)), data_(memory_->data()), size_(size) {}
#ifdef MODELD_TORCH_HAS_CUDA
  owned_host_buffer(std::uint8_t* pinned, std::uint64_t size) : data_(pinned), size_(size), pinned_(true) {}
  ~owned_host_buffer() override {
    if (pinned_)
      cudaFreeHost(data_);
  }
#endif
  owned_host_buffer(const owned_host_buffer&) = delete;
  owned_host_buffer& operator=(const owned_host_buffer&) = delete;

  const std::uint8_t* data() const override { return data_; }
  std::uint64_t size() const override { return size_; }
  bool pinned() const override { return pinned_; }
  std::uint8_t* writable() { return data_; }

private:
  std::unique_ptr<fresh_memory> memory_;
  std::uint8_t* data_;
  std::uint64_t size_;
  bool pinned_ = false;
};

#ifdef MODELD_TORCH_HAS_CUDA
// Page-locked memory makes host-to-device copies asynchronous and about twice as fast; a host
// without a usable CUDA device, or one that cannot lock this much, gets pageable memory.
std::uint8_t* try_pinned(std::uint64_t bytes) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return nullptr;
  }
  void* memory = nullptr;
  if (cudaHostAlloc(&memory, bytes, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return static_cast<std::uint8_t*>(memory);
}
#endif

std::variant<std::unique_ptr<owned_host_buffer>, std::string> allocate(std::uint64_t size) {
#ifdef MODELD_TORCH_HAS_CUDA
  // At least one byte even for an empty file, so data() is never null.
  if (auto* pinned = try_pinned(std::max<std::uint64_t>(size, 1)))
    return std::make_unique<owned_host_buffer>(pinned, size);
#endif
  try {
    return std::make_unique<owned_host_buffer>(std::make_unique<fresh_memory>(size), size);
  } catch (const std::bad_alloc&) {
    return "cannot allocate " + std::to_string(size) + " bytes of host memory";
  }
}

// Reads exactly `size` bytes of `fd` into `to`, one share per core with pread: reading a
// page-cached file is a copy, so it spreads over the cores like any other. Exactly the size
// fstat gave: a file that grows meanwhile is read up to that size, one that shrinks is an
// error rather than a buffer with a zero-filled tail.
std::optional<std::string> read_in_parallel(int fd, std::uint8_t* to, std::uint64_t size) {
  constexpr std::uint64_t chunk = 8 << 20;
  std::mutex guard;
  std::optional<std::string> error;
  run_in_shares(size, [&](std::uint64_t begin, std::uint64_t end) {
    for (auto at = begin; at < end;) {
      const auto got = ::pread(fd, to + at, std::min(chunk, end - at), static_cast<off_t>(at));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        const std::lock_guard lock(guard);
        error = got < 0 ? std::string{"cannot read: "} + std::strerror(errno)
                        : "shrank while being read: no bytes at offset " + std::to_string(at) + " of " +
                            std::to_string(size);
        return;
      }
      at += static_cast<std::uint64_t>(got);
    }
  });
  return error;
}

} // namespace

std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_buffer(const std::string& path) {
  file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return system_error("cannot open", path, errno);
  struct stat facts {};
  if (::fstat(fd.get(), &facts) != 0)
    return system_error("cannot stat", path, errno);
  if (!S_ISREG(facts.st_mode))
    return "not a regular file: " + path;
  const auto size = static_cast<std::uint64_t>(facts.st_size);
  auto allocated = allocate(size);
  if (auto* reason = std::get_if<std::string>(&allocated))
    return *reason + " (reading " + path + ")";
  auto buffer = std::move(std::get<0>(allocated));
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  if (auto error = read_in_parallel(fd.get(), buffer->writable(), size))
    return path + ": " + *error;
  return std::shared_ptr<const host_buffer>(std::move(buffer));
}

} // namespace modeld::gpu
