// Byte sizes as flags spell them: "4GiB", "512MiB", "1024", "1.5GiB", "2GB".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modeld::gpu {

// Accepts a plain byte count or a number with B, KiB/KB/K, MiB/MB/M, GiB/GB/G, TiB/TB/T
// (binary multiples: GB means GiB, as memory is sized). Rejects negatives, overflow, junk.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// 4294967296 -> "4GiB" where exact, else bytes with a unit and two decimals.
std::string format_byte_size(std::uint64_t bytes);

} // namespace modeld::gpu
