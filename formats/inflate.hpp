#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace modeld::formats {

// Raw DEFLATE (RFC 1951) decoder for the small deflated entries of zip archives, such as the
// `.debug_pkl` pickles of TorchScript archives, which must be scanned like any other pickle.
// No dependency besides OpenSSL is allowed in formats/, hence this small decoder. Output is
// capped at `max_output` bytes, so a zip bomb stops at the size the directory declared.
// Returns nullopt and sets `error` on malformed input or when the cap would be exceeded.
std::optional<std::vector<std::uint8_t>> inflate_raw(std::span<const std::uint8_t> input,
                                                     std::uint64_t max_output, std::string& error);

// The first `count` bytes of the stream (fewer if it is shorter): enough to sniff a pickle's
// first bytes without inflating a whole entry. nullopt if the stream is malformed before then.
std::optional<std::vector<std::uint8_t>> inflate_prefix(std::span<const std::uint8_t> input,
                                                        std::uint64_t count);

} // namespace modeld::formats
