#include "formats/dtype.hpp"

#include <array>
#include <utility>

namespace modeld::formats {

namespace {

struct dtype_entry {
  std::string_view name;
  unsigned bits;
  std::string_view precision;
};

// The safetensors reference's dtype set, with bit widths.
constexpr std::array<dtype_entry, 23> safetensors_dtypes{{
  {"F4", 4, "fp4"},
  {"F6_E2M3", 6, "fp6"},
  {"F6_E3M2", 6, "fp6"},
  {"BOOL", 8, "bool"},
  {"U8", 8, "uint8"},
  {"I8", 8, "int8"},
  {"F8_E5M2", 8, "fp8"},
  {"F8_E4M3", 8, "fp8"},
  {"F8_E8M0", 8, "fp8"},
  {"F8_E4M3FNUZ", 8, "fp8"},
  {"F8_E5M2FNUZ", 8, "fp8"},
  {"I16", 16, "int16"},
  {"U16", 16, "uint16"},
  {"F16", 16, "fp16"},
  {"BF16", 16, "bf16"},
  {"I32", 32, "int32"},
  {"U32", 32, "uint32"},
  {"F32", 32, "fp32"},
  {"C64", 64, "complex64"},
  {"F64", 64, "fp64"},
  {"I64", 64, "int64"},
  {"U64", 64, "uint64"},
  {"C128", 128, "complex128"}, // torch only; not accepted in safetensors headers
}};

// Quantized torch storages: one byte per element except the packed sub-byte ones.
constexpr std::array<dtype_entry, 5> torch_quantized{{
  {"QINT8", 8, "qint8"},
  {"QUINT8", 8, "quint8"},
  {"QINT32", 32, "qint32"},
  {"QUINT4X2", 8, "quint4x2"},
  {"QUINT2X4", 8, "quint2x4"},
}};

const dtype_entry* find_entry(std::string_view name) noexcept {
  for (const auto& e : safetensors_dtypes)
    if (e.name == name)
      return &e;
  for (const auto& e : torch_quantized)
    if (e.name == name)
      return &e;
  return nullptr;
}

} // namespace

std::optional<unsigned> safetensors_dtype_bits(std::string_view name) noexcept {
  if (name == "C128")
    return std::nullopt;
  for (const auto& e : safetensors_dtypes)
    if (e.name == name)
      return e.bits;
  return std::nullopt;
}

std::optional<unsigned> element_bits(std::string_view name) noexcept {
  if (const auto* e = find_entry(name))
    return e->bits;
  return std::nullopt;
}

std::string_view precision_label(std::string_view dtype) noexcept {
  if (const auto* e = find_entry(dtype))
    return e->precision;
  // ggml block types (Q4_K, IQ2_XS, ...) keep their own name.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 24> ggml{{
    {"Q4_0", "q4_0"}, {"Q4_1", "q4_1"}, {"Q5_0", "q5_0"}, {"Q5_1", "q5_1"},
    {"Q8_0", "q8_0"}, {"Q8_1", "q8_1"}, {"Q2_K", "q2_k"}, {"Q3_K", "q3_k"},
    {"Q4_K", "q4_k"}, {"Q5_K", "q5_k"}, {"Q6_K", "q6_k"}, {"Q8_K", "q8_k"},
    {"IQ2_XXS", "iq2_xxs"}, {"IQ2_XS", "iq2_xs"}, {"IQ3_XXS", "iq3_xxs"}, {"IQ1_S", "iq1_s"},
    {"IQ4_NL", "iq4_nl"}, {"IQ3_S", "iq3_s"}, {"IQ2_S", "iq2_s"}, {"IQ4_XS", "iq4_xs"},
    {"IQ1_M", "iq1_m"}, {"TQ1_0", "tq1_0"}, {"TQ2_0", "tq2_0"}, {"MXFP4", "mxfp4"},
  }};
  for (const auto& [name, label] : ggml)
    if (name == dtype)
      return label;
  return "unknown";
}

float_kind float_kind_of(std::string_view dtype) noexcept {
  if (dtype == "F32")
    return float_kind::f32;
  if (dtype == "F16")
    return float_kind::f16;
  if (dtype == "BF16")
    return float_kind::bf16;
  if (dtype == "F64")
    return float_kind::f64;
  return float_kind::none;
}

} // namespace modeld::formats
