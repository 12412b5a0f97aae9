// The only translation unit of device enumeration that includes torch (each costs ~20 s to
// compile). CUDA queries are compiled in only where libtorch has CUDA.
#include "gpu/devices.hpp"

#include <torch/cuda.h>
#include <torch/version.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace modeld::gpu {

bool torch_has_cuda() {
#ifdef MODELD_TORCH_HAS_CUDA
  return true;
#else
  return false;
#endif
}

std::string torch_version() { return TORCH_VERSION; }

std::uint64_t allocator_reserve_bytes(int index) {
#ifdef MODELD_TORCH_HAS_CUDA
  if (index < 0 || index >= static_cast<int>(c10::cuda::device_count()))
    return 0;
  constexpr std::size_t aggregate = 0; // StatType::AGGREGATE, whose namespace moved between releases
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  const auto reserved = stats.reserved_bytes[aggregate].current, allocated = stats.allocated_bytes[aggregate].current;
  return reserved > allocated ? static_cast<std::uint64_t>(reserved - allocated) : 0;
#else
  (void)index;
  return 0;
#endif
}

std::vector<cuda_device_facts> probe_cuda_devices() {
  std::vector<cuda_device_facts> devices;
#ifdef MODELD_TORCH_HAS_CUDA
  if (!torch::cuda::is_available())
    return devices;
  auto count = torch::cuda::device_count();
  for (std::size_t i = 0; i < count; ++i) {
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, static_cast<int>(i)) != cudaSuccess)
      continue;
    devices.push_back({properties.name, static_cast<std::uint64_t>(properties.totalGlobalMem)});
  }
#endif
  return devices;
}

} // namespace modeld::gpu
