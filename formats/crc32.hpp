#pragma once

#include <cstdint>
#include <span>

namespace modeld::formats {

// CRC-32 (IEEE, as zip uses), computed by zlib (crc32_z: any length, no 4 GiB limit). Pass the
// previous result to continue a running CRC; an empty span returns it unchanged.
std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t previous = 0) noexcept;

} // namespace modeld::formats
