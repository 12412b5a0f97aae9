// What the files of the libtorch loader share: devices by name, torch's errors in plain words,
// the dtypes of a load plan as torch's scalar types, and the clock loads and benchmarks are
// timed by. Only c10's light headers (under a second to compile, where ATen's cost several
// seconds in every file that includes them), so torch_support.cpp and device_facts.cpp stay cheap.
#pragma once

#include "gpu/load_plan.hpp"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <variant>

namespace modeld::gpu {

// A virtual CPU device ("cpu", "cpu:N": all of them the host's CPU) or "cuda:N", one this
// process sees; the reason otherwise.
std::variant<c10::Device, std::string> parse_device(const std::string& text);

// Waits until `device` has done the work queued on it (CUDA copies and kernels run
// asynchronously), so that timings and loads end when the work does.
void synchronize(const c10::Device& device);

// The first line of an error's message: c10 errors carry a C++ backtrace in what(), which
// clients must not get.
std::string describe(const std::exception& error);
// Whether torch failed for want of device or host memory: an OutOfMemoryError, a bad_alloc, or
// an error whose message says so.
bool is_out_of_memory(const std::exception& error);

c10::ScalarType scalar_type_of(tensor_dtype dtype);
// nullopt for the scalar types a load never plans (quantized ones, ...).
std::optional<tensor_dtype> tensor_dtype_of(c10::ScalarType type);

using clock_type = std::chrono::steady_clock;

inline double elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

#ifdef MODELD_TORCH_HAS_CUDA
// Index of the CUDA caching allocator's statistics summed over its pools (StatType::AGGREGATE,
// whose namespace moved between libtorch releases).
inline constexpr std::size_t aggregate_stat = 0;
#endif

} // namespace modeld::gpu
