// Facts of the host and of the devices libtorch sees: the host's memory (the one reader of
// /proc/meminfo), CUDA devices and their allocator, torch's version and threads
// (devices.hpp, and describe_device in model_loader.hpp). Only light torch headers (no ATen
// tensors on CPU-only builds); CUDA queries are compiled in only where libtorch has CUDA.
#include "gpu/devices.hpp"
#include "gpu/model_loader.hpp"

#include "gpu/torch_support.hpp"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

#include <fstream>
#include <optional>

#include <unistd.h>

namespace modeld::gpu {

#ifdef MODELD_TORCH_HAS_CUDA
namespace {

std::optional<cuda_device_facts> cuda_properties(int index) {
  cudaDeviceProp properties{};
  if (cudaGetDeviceProperties(&properties, index) != cudaSuccess)
    return std::nullopt;
  return cuda_device_facts{properties.name, static_cast<std::uint64_t>(properties.totalGlobalMem)};
}

} // namespace
#endif

std::uint64_t physical_memory_bytes() {
  auto pages = sysconf(_SC_PHYS_PAGES);
  auto page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0)
    return 0;
  return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
}

std::uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:")
      return kib * 1024;
  return 0;
}

bool torch_has_cuda() {
#ifdef MODELD_TORCH_HAS_CUDA
  return true;
#else
  return false;
#endif
}

std::string cuda_absence_reason() {
#ifdef MODELD_TORCH_HAS_CUDA
  int count = 0;
  if (const auto status = cudaGetDeviceCount(&count); status != cudaSuccess) {
    cudaGetLastError(); // clears the error, so later CUDA calls do not report it again
    return std::string{"the CUDA runtime found no usable device: "} + cudaGetErrorString(status);
  }
  return count == 0 ? "the CUDA runtime found no device" : "";
#else
  return "this build's libtorch has no CUDA";
#endif
}

std::string torch_version() { return TORCH_VERSION; }

std::uint64_t allocator_reserve_bytes(int index) {
#ifdef MODELD_TORCH_HAS_CUDA
  if (index < 0 || index >= static_cast<int>(c10::cuda::device_count()))
    return 0;
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  const auto reserved = stats.reserved_bytes[aggregate_stat].current,
             allocated = stats.allocated_bytes[aggregate_stat].current;
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
  // A size_t up to torch 1.13, a c10::DeviceIndex (a signed char) since torch 2.
  const auto count = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < count; ++i)
    if (auto facts = cuda_properties(i))
      devices.push_back(std::move(*facts));
#endif
  return devices;
}

device_facts describe_device(const std::string& device) {
  device_facts facts;
  facts.torch_version = torch_version();
  facts.threads = at::get_num_threads();
  auto parsed = parse_device(device);
  if (auto* reason = std::get_if<std::string>(&parsed)) {
    facts.device_name = *reason;
    return facts;
  }
  const auto& d = std::get<c10::Device>(parsed);
#ifdef MODELD_TORCH_HAS_CUDA
  if (d.is_cuda()) {
    // An empty tensor allocates nothing but initialises torch's CUDA state, without which
    // the allocator has no statistics for the device yet.
    (void)at::empty({0}, at::TensorOptions().device(d));
    if (auto properties = cuda_properties(d.index())) {
      facts.device_name = properties->name;
      facts.memory_total = properties->total_bytes;
    }
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index());
    facts.memory_used = static_cast<std::uint64_t>(stats.allocated_bytes[aggregate_stat].current);
    return facts;
  }
#else
  (void)d;
#endif
  facts.device_name = "cpu"; // a virtual CPU device's memory is its budget: the device actor knows it
  return facts;
}

} // namespace modeld::gpu
