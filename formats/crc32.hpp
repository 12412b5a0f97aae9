#pragma once

#include <cstdint>
#include <span>

namespace modeld::formats {

// CRC-32 (IEEE, as zip uses), slice-by-8. Pass the previous result to continue a running CRC.
std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t previous = 0) noexcept;

} // namespace modeld::formats
