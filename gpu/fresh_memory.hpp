// Fresh host memory for loads, and the one way large copies into it are split over the cores.
// Free of torch, so host_buffer.cpp, cpu_copy.cpp and model_loader.cpp share it without
// another torch TU.
#pragma once

#include <cstdint>
#include <functional>

namespace modeld::gpu {

// An anonymous mapping on transparent huge pages where the kernel allows them, with every page
// already faulted in (MADV_POPULATE_WRITE, spread over the cores). Measured on a 2-core host
// with 2 GiB: faulting pages inside the copy cost 0.30 s, populating first and then copying
// 0.21 s; 4 KiB pages faulted one by one cost several times the copy itself. Unmapped on
// destruction, so the memory goes back to the system. Throws std::bad_alloc when the mapping or
// its pages cannot be had.
class fresh_memory {
public:
  explicit fresh_memory(std::uint64_t bytes);
  ~fresh_memory();
  fresh_memory(const fresh_memory&) = delete;
  fresh_memory& operator=(const fresh_memory&) = delete;

  std::uint8_t* data() const { return base_; }
  std::uint64_t size() const { return size_; }

private:
  std::uint64_t size_;
  std::uint8_t* base_ = nullptr;
};

// memcpy for large copies into memory that is not read again soon (a device's copy of a model):
// non-temporal stores skip the read-for-ownership of every destination cache line. With 8 MiB
// chunks glibc's memcpy stays on ordinary stores (it streams only above a threshold derived
// from the cache size: 256 MiB on a 480 MiB-L3 host); measured on 2 cores, 2 GiB in 8 MiB
// chunks took 0.16 s with memcpy and 0.10 s streamed. Plain memcpy where SSE2 is missing.
void stream_copy(std::uint8_t* to, const std::uint8_t* from, std::uint64_t bytes);

// Splits [0, total) into one contiguous share per core (one share below 16 MiB, where threads
// cost more than they save) and runs `work(begin, end)` on each, the calling thread taking the
// first. Debian's libtorch runs at::parallel_for on one thread, so large copies use this.
void run_in_shares(std::uint64_t total, const std::function<void(std::uint64_t begin, std::uint64_t end)>& work);

} // namespace modeld::gpu
