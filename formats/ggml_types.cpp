#include "formats/ggml_types.hpp"

#include <array>

namespace modeld::formats {

namespace {

// ggml.h / ggml-common.h: QK_K = 256 super-blocks, 32-element legacy blocks. An empty name
// marks a removed type.
constexpr std::array<ggml_type_info, 40> table{{
  {"F32", 1, 4},        {"F16", 1, 2},         {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
  {"", 0, 0},           {"", 0, 0},            {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
  {"Q8_0", 32, 34},     {"Q8_1", 32, 36},      {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
  {"Q4_K", 256, 144},   {"Q5_K", 256, 176},    {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
  {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74},   {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
  {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110},   {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
  {"I8", 1, 1},         {"I16", 1, 2},         {"I32", 1, 4},        {"I64", 1, 8},
  {"F64", 1, 8},        {"IQ1_M", 256, 56},    {"BF16", 1, 2},       {"", 0, 0},
  {"", 0, 0},           {"", 0, 0},            {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
  {"", 0, 0},           {"", 0, 0},            {"", 0, 0},           {"MXFP4", 32, 17},
}};

} // namespace

std::optional<ggml_type_info> ggml_type(std::uint32_t index) noexcept {
  if (index >= table.size() || table[index].block_size == 0)
    return std::nullopt;
  return table[index];
}

} // namespace modeld::formats
