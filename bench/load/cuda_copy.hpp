// The CUDA baselines of load_bench, kept apart so that only this small file includes the CUDA
// runtime: a bare cudaMemcpy of a load's bytes from pinned host memory, and the device's free
// memory as the driver reports it (cudaMemGetInfo). Built where libtorch has CUDA
// (MODELD_TORCH_HAS_CUDA), against the CUDA runtime torch itself uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

namespace modeld::bench {

// Median seconds of `runs` copies of `bytes` from `host` (page-locked memory) into one device
// buffer on CUDA device `device`, each waited for; after one copy that is not timed (the
// buffer's first touch). The CUDA error otherwise.
std::variant<double, std::string> bare_copy_seconds(const void* host, std::size_t bytes, int device, int runs);

struct device_memory {
  std::uint64_t free_bytes = 0;
  std::uint64_t total_bytes = 0;
};
// The driver's free and total memory of CUDA device `device`; the CUDA error otherwise.
std::variant<device_memory, std::string> device_memory_info(int device);

} // namespace modeld::bench
