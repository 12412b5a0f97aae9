#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace modeld::formats {

// Bits per element of a safetensors dtype name (F4=4, F6_*=6, F8_*=8, ...), nullopt if the
// name is not one the safetensors reference accepts.
std::optional<unsigned> safetensors_dtype_bits(std::string_view name) noexcept;

// Bits per element of any canonical dtype name used in tensor_info (safetensors names plus
// C128 and the quantized torch types); nullopt for block-quantized or unknown types.
std::optional<unsigned> element_bits(std::string_view name) noexcept;

// The precision label reported for a dtype: fp32, fp16, bf16, fp8, fp64, int8, q4_k, ...
std::string_view precision_label(std::string_view dtype) noexcept;

// Floating types whose NaN/Inf the numerics scan counts.
enum class float_kind { none, f32, f16, bf16, f64 };
float_kind float_kind_of(std::string_view dtype) noexcept;

} // namespace modeld::formats
