#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace modeld::formats {

// Raw DEFLATE (RFC 1951, as zip stores it) for the deflated entries of zip archives, such as
// the `.debug_pkl` pickles of TorchScript archives, which must be scanned like any other pickle.
// The decoding is zlib's (Debian's zlib1g): fuzzed for decades (OSS-Fuzz among others) and
// patched by the distribution, which a decoder of our own was not. What this wrapper adds:
//  - output is capped at `max_output` bytes, the size the zip directory declared: a stream that
//    would produce more (a bomb, or a size lie) stops there and fails instead of growing;
//  - memory is bounded: the output buffer grows with what was produced, never past
//    `max_output`, so a lying header costs no more than the bytes that really come out; zlib's
//    own state is fixed (its 32 KiB window and tables);
//  - a stream that ends early (truncated) fails like a corrupt one, with its own message;
//  - the zlib stream is always ended (RAII), and inputs or outputs over 4 GiB (zlib counts in
//    32 bits) are handed to it in slices.
// Returns nullopt and sets `error` on malformed or truncated input, or when the cap would be
// exceeded ("output exceeds the declared size"). Bytes after the end of the stream are ignored.
std::optional<std::vector<std::uint8_t>> inflate_raw(std::span<const std::uint8_t> input,
                                                     std::uint64_t max_output, std::string& error);

// The first `count` bytes of the stream (fewer if it is shorter): enough to sniff a pickle's
// first bytes without inflating a whole entry. nullopt if the stream is malformed or ends
// before then.
std::optional<std::vector<std::uint8_t>> inflate_prefix(std::span<const std::uint8_t> input,
                                                        std::uint64_t count);

} // namespace modeld::formats
