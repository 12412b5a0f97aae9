// Files read into host memory for loads. Kept out of model_loader.cpp so it builds without
// torch headers: anonymous mappings (returned to the OS on release, so load/unload cycles do
// not grow the process) or, where CUDA is present, page-locked memory from cudaHostAlloc.
// torch's pinned allocator is not used on purpose: it caches freed blocks for the process's
// lifetime, and a RAM cache that evicts a model must really give the memory back.
#include "gpu/model_loader.hpp"

#include "gpu/file_reader.hpp"
#include "gpu/fresh_memory.hpp"

#include <algorithm>
#include <mutex>
#include <optional>

#ifdef MODELD_TORCH_HAS_CUDA
#include <cuda_runtime_api.h>
#endif

namespace modeld::gpu {

namespace {

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

} // namespace

std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_buffer(const std::string& path,
                                                                                const progress_callback& progress) {
  auto opened = file_reader::open(path);
  if (auto* reason = std::get_if<std::string>(&opened))
    return *reason;
  return read_host_buffer(std::get<file_reader>(opened), progress);
}

std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_buffer(const file_reader& file,
                                                                                const progress_callback& progress) {
  auto allocated = allocate(file.size());
  if (auto* reason = std::get_if<std::string>(&allocated))
    return *reason + " (reading " + file.path() + ")";
  auto buffer = std::move(std::get<0>(allocated));
  // Exactly the size fstat gave: a file that grows meanwhile is read up to that size, one that
  // shrinks is an error rather than a buffer with a zero-filled tail.
  progress_meter meter(progress, "reading", file.size());
  if (auto error = file.read_all_in_parallel(buffer->writable(), &meter))
    return *error;
  return std::shared_ptr<const host_buffer>(std::move(buffer));
}

std::string not_in_host_memory(std::uint64_t offset, std::uint64_t length) {
  return "bytes " + std::to_string(offset) + "+" + std::to_string(length) +
         " of the file are not in one block of its host memory";
}

std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_ranges(const file_reader& file,
                                                                                const std::vector<file_range>& ranges,
                                                                                progress_meter* progress) {
  std::uint64_t total = 0;
  for (const auto& range : ranges) {
    if (range.offset > file.size() || range.length > file.size() - range.offset)
      return "bytes " + std::to_string(range.offset) + "+" + std::to_string(range.length) + " lie past the end of " +
             file.path() + " (" + std::to_string(file.size()) + " bytes)";
    total += range.length;
  }
  auto allocated = allocate(total);
  if (auto* reason = std::get_if<std::string>(&allocated))
    return *reason + " (reading " + file.path() + ")";
  auto buffer = std::move(std::get<0>(allocated));
  // The packed bytes, one share per core: each share walks the ranges it overlaps.
  constexpr std::uint64_t chunk = 8 << 20;
  std::mutex guard;
  std::optional<std::string> error;
  run_in_shares(total, [&](std::uint64_t begin, std::uint64_t end) {
    std::uint64_t packed = 0; // where the current range starts in the buffer
    for (const auto& range : ranges) {
      const auto from = std::max(begin, packed), to = std::min(end, packed + range.length);
      for (auto at = from; at < to; at += chunk) {
        const auto bytes = std::min(chunk, to - at);
        if (auto failed = file.read_exactly(buffer->writable() + at, range.offset + (at - packed), bytes)) {
          const std::lock_guard lock(guard);
          error = std::move(failed);
          return;
        }
        if (progress)
          progress->add(bytes);
      }
      packed += range.length;
    }
  });
  if (error)
    return *error;
  return std::shared_ptr<const host_buffer>(std::move(buffer));
}

} // namespace modeld::gpu
