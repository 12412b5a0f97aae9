// Exact memory accounting of one device: what it may hold (budget), what its tensors take
// plus, on a GPU, what torch's caching allocator keeps beyond them (used). Loads reserve before
// they copy and commit or roll back, so a failed or cancelled load leaves nothing
// half-accounted. Not thread-safe: owned by one device actor.
#pragma once

#include <cstdint>

namespace modeld::gpu {

class memory_account {
public:
  memory_account() = default;
  memory_account(std::uint64_t total_bytes, std::uint64_t budget_bytes)
    : total_(total_bytes), budget_(budget_bytes < total_bytes ? budget_bytes : total_bytes) {}

  std::uint64_t total() const { return total_; }
  std::uint64_t budget() const { return budget_; }
  std::uint64_t used() const { return used_ + reserved_ + allocator_reserve_; }
  std::uint64_t free() const { return budget_ > used() ? budget_ - used() : 0; }
  std::uint64_t tensor_bytes() const { return used_; }
  std::uint64_t allocator_reserve() const { return allocator_reserve_; }

  // The allocator's reserve as last measured (allocator_reserve_bytes); 0 on CPU devices.
  void set_allocator_reserve(std::uint64_t bytes) { allocator_reserve_ = bytes; }

  // Sets aside `bytes` for a load in progress; false (and nothing changes) when they do not fit.
  bool try_reserve(std::uint64_t bytes);
  // A reserved load finished: its bytes are now held by tensors.
  void commit(std::uint64_t bytes);
  // A reserved load failed or was cancelled.
  void cancel_reservation(std::uint64_t bytes);
  // Tensors were freed.
  void release(std::uint64_t bytes);

private:
  std::uint64_t total_ = 0;
  std::uint64_t budget_ = 0;
  std::uint64_t used_ = 0;
  std::uint64_t reserved_ = 0;
  std::uint64_t allocator_reserve_ = 0;
};

} // namespace modeld::gpu
