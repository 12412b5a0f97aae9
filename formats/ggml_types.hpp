#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace modeld::formats {

// One ggml tensor type: elements per block and bytes per block (ggml's type_traits).
struct ggml_type_info {
  std::string_view name;
  std::uint32_t block_size;
  std::uint32_t type_size;
};

// nullopt for indices outside the table and for types ggml has removed (4, 5, 31-33, 36-38).
std::optional<ggml_type_info> ggml_type(std::uint32_t index) noexcept;

} // namespace modeld::formats
