#include "gpu/torch_support.hpp"

#include <c10/util/Exception.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <algorithm>
#include <array>
#include <charconv>
#include <new>
#include <string_view>
#include <utility>

namespace modeld::gpu {

namespace {

constexpr std::array<std::pair<tensor_dtype, c10::ScalarType>, 12> scalar_types{{
  {tensor_dtype::f64, c10::kDouble},
  {tensor_dtype::f32, c10::kFloat},
  {tensor_dtype::f16, c10::kHalf},
  {tensor_dtype::bf16, c10::kBFloat16},
  {tensor_dtype::i64, c10::kLong},
  {tensor_dtype::i32, c10::kInt},
  {tensor_dtype::i16, c10::kShort},
  {tensor_dtype::i8, c10::kChar},
  {tensor_dtype::u8, c10::kByte},
  {tensor_dtype::boolean, c10::kBool},
  {tensor_dtype::c64, c10::kComplexFloat},
  {tensor_dtype::c128, c10::kComplexDouble},
}};

} // namespace

std::variant<c10::Device, std::string> parse_device(const std::string& text) {
  if (is_cpu_device(text))
    return c10::Device(c10::kCPU);
  if (!text.starts_with("cuda:"))
    return "unknown device \"" + text + "\" (expected cpu, cpu:N or cuda:N)";
  int index = -1;
  const auto digits = std::string_view(text).substr(5);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (error != std::errc{} || end != digits.data() + digits.size() || index < 0)
    return "unknown device \"" + text + "\" (expected cpu, cpu:N or cuda:N)";
#ifdef MODELD_TORCH_HAS_CUDA
  const auto count = static_cast<int>(c10::cuda::device_count());
  if (index >= count)
    return "device " + text + " does not exist (" + std::to_string(count) + " CUDA devices visible)";
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
#else
  return "device " + text + " needs CUDA, and this build's libtorch has none";
#endif
}

void synchronize(const c10::Device& device) {
#ifdef MODELD_TORCH_HAS_CUDA
  if (device.is_cuda())
    c10::cuda::device_synchronize();
#else
  (void)device;
#endif
}

std::string describe(const std::exception& error) {
  std::string text = error.what();
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error))
    text = c10_error->what_without_backtrace();
  if (const auto end = text.find('\n'); end != std::string::npos)
    text.resize(end);
  return text;
}

bool is_out_of_memory(const std::exception& error) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) || dynamic_cast<const std::bad_alloc*>(&error))
    return true;
  const std::string text = describe(error);
  return text.find("out of memory") != std::string::npos || text.find("not enough memory") != std::string::npos;
}

c10::ScalarType scalar_type_of(tensor_dtype dtype) {
  return std::find_if(scalar_types.begin(), scalar_types.end(), [dtype](const auto& entry) {
           return entry.first == dtype;
         })->second;
}

std::optional<tensor_dtype> tensor_dtype_of(c10::ScalarType type) {
  for (const auto& [dtype, scalar_type] : scalar_types)
    if (scalar_type == type)
      return dtype;
  return std::nullopt;
}

} // namespace modeld::gpu
