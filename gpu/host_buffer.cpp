// Files read into host memory for loads. Kept out of model_loader.cpp so it builds without
// torch headers: anonymous mappings (returned to the OS on release, so load/unload cycles do
// not grow the process) or, where CUDA is present, page-locked memory from cudaHostAlloc.
// torch's pinned allocator is not used on purpose: it caches freed blocks for the process's
// lifetime, and a RAM cache that evicts a model must really give the memory back.
#include "gpu/model_loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <cuda_runtime_api.h>
#endif

namespace modeld::gpu {

namespace {

constexpr std::uint64_t page_size = 4096;

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

class owned_host_buffer final : public host_buffer {
public:
  owned_host_buffer(std::uint8_t* data, std::uint64_t size, std::uint64_t mapped, bool pinned)
    : data_(data), size_(size), mapped_(mapped), pinned_(pinned) {}
  ~owned_host_buffer() override {
#ifdef MODELD_TORCH_HAS_CUDA
    if (pinned_) {
      cudaFreeHost(data_);
      return;
    }
#endif
    if (mapped_ > 0)
      ::munmap(data_, mapped_);
  }
  owned_host_buffer(const owned_host_buffer&) = delete;
  owned_host_buffer& operator=(const owned_host_buffer&) = delete;

  const std::uint8_t* data() const override { return data_; }
  std::uint64_t size() const override { return size_; }
  bool pinned() const override { return pinned_; }
  std::uint8_t* writable() { return data_; }

private:
  std::uint8_t* data_;
  std::uint64_t size_;
  std::uint64_t mapped_;
  bool pinned_;
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
  // One page even for an empty file, so data() is never null.
  const std::uint64_t mapped = (std::max<std::uint64_t>(size, 1) + page_size - 1) / page_size * page_size;
#ifdef MODELD_TORCH_HAS_CUDA
  if (auto* pinned = try_pinned(mapped))
    return std::make_unique<owned_host_buffer>(pinned, size, 0, true);
#endif
  void* memory = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    return "cannot allocate " + std::to_string(size) + " bytes of host memory: " + std::strerror(errno);
  // 2 MiB pages where the kernel allows: faulting fresh 4 KiB pages one by one cost more than
  // the read itself.
  ::madvise(memory, mapped, MADV_HUGEPAGE);
  return std::make_unique<owned_host_buffer>(static_cast<std::uint8_t*>(memory), size, mapped, false);
}

// Reads exactly `size` bytes of `fd` into `to`, the threads (one per core, for large files)
// each taking an equal share with pread: reading a page-cached file is a copy, and the page
// faults of fresh memory spread over the cores as well. Exactly the size fstat gave: a file
// that grows meanwhile is read up to that size, one that shrinks is an error rather than a
// buffer with a zero-filled tail.
std::optional<std::string> read_in_parallel(int fd, std::uint8_t* to, std::uint64_t size) {
  constexpr std::uint64_t chunk = 8 << 20;
  const auto threads = std::max<std::uint64_t>(
    1, std::min<std::uint64_t>(std::thread::hardware_concurrency(), size / (16 << 20) + 1));
  const auto share = (size + threads - 1) / threads;
  std::vector<std::optional<std::string>> errors(threads);
  auto run = [&](std::uint64_t index) {
    const auto begin = index * share, end = std::min(size, begin + share);
    for (auto at = begin; at < end;) {
      const auto got = ::pread(fd, to + at, std::min(chunk, end - at), static_cast<off_t>(at));
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0) {
        errors[index] = std::string{"cannot read: "} + std::strerror(errno);
        return;
      }
      if (got == 0) {
        errors[index] = "shrank while being read: no bytes at offset " + std::to_string(at) + " of " +
                        std::to_string(size);
        return;
      }
      at += static_cast<std::uint64_t>(got);
    }
  };
  std::vector<std::thread> helpers;
  for (std::uint64_t t = 1; t < threads; ++t)
    helpers.emplace_back(run, t);
  run(0);
  for (auto& h : helpers)
    h.join();
  for (auto& e : errors)
    if (e)
      return e;
  return std::nullopt;
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
