// Device enumeration: turns a --devices spec into the devices this host really has.
#pragma once

#include "gpu/device_spec.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace modeld::gpu {

struct device_description {
  std::string id;   // "cpu:0", "cuda:1"
  device_kind kind;
  int index;
  std::string name; // "NVIDIA H100 80GB HBM3", "virtual CPU device"
  std::uint64_t total_bytes;
  std::uint64_t budget_bytes;
};

// What libtorch can see: CUDA devices where it was built with CUDA.
struct cuda_device_facts {
  std::string name;
  std::uint64_t total_bytes;
};
std::vector<cuda_device_facts> probe_cuda_devices();
bool torch_has_cuda();
// Why no CUDA device is there to use: this libtorch has none, or what the CUDA runtime said (no
// driver, no device). Empty when there is one.
std::string cuda_absence_reason();
// What torch's CUDA caching allocator holds on device `index` beyond the bytes its live tensors
// take (blocks kept for reuse, rounding): counted as used, since nothing else can have it.
// 0 without CUDA.
std::uint64_t allocator_reserve_bytes(int index);
std::string torch_version();

std::uint64_t physical_memory_bytes();
// MemAvailable of /proc/meminfo: what the host can still hand out without swapping; 0 when
// unknown.
std::uint64_t available_memory_bytes();

// `auto`: every CUDA device, else one CPU device (main logs cuda_absence_reason() then). A cuda:N that does not exist, or a budget
// above what the device has, is an error (one line, for stderr).
std::variant<std::vector<device_description>, std::string> enumerate_devices(const device_spec& spec);

} // namespace modeld::gpu
