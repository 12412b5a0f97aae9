#include "bench/load/cuda_copy.hpp"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace modeld::bench {

namespace {

std::string failed(const char* what, cudaError_t status) {
  cudaGetLastError(); // clears it, so the next call does not report it again
  return std::string{what} + ": " + cudaGetErrorString(status);
}

} // namespace

std::variant<double, std::string> bare_copy_seconds(const void* host, std::size_t bytes, int device, int runs) {
  if (auto status = cudaSetDevice(device); status != cudaSuccess)
    return failed("cudaSetDevice", status);
  void* target = nullptr;
  if (auto status = cudaMalloc(&target, bytes); status != cudaSuccess)
    return failed("cudaMalloc", status);
  std::vector<double> times;
  std::string error;
  for (int i = 0; i <= runs && error.empty(); ++i) {
    const auto started = std::chrono::steady_clock::now();
    // From pinned memory cudaMemcpy returns once the copy is done; the synchronize makes sure.
    if (auto status = cudaMemcpy(target, host, bytes, cudaMemcpyHostToDevice); status != cudaSuccess)
      error = failed("cudaMemcpy", status);
    else if (status = cudaDeviceSynchronize(); status != cudaSuccess)
      error = failed("cudaDeviceSynchronize", status);
    else if (i > 0)
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  cudaFree(target);
  if (!error.empty())
    return error;
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::variant<device_memory, std::string> device_memory_info(int device) {
  if (auto status = cudaSetDevice(device); status != cudaSuccess)
    return failed("cudaSetDevice", status);
  std::size_t free_bytes = 0, total_bytes = 0;
  if (auto status = cudaMemGetInfo(&free_bytes, &total_bytes); status != cudaSuccess)
    return failed("cudaMemGetInfo", status);
  return device_memory{free_bytes, total_bytes};
}

} // namespace modeld::bench
