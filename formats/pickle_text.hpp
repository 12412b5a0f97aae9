#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modeld::formats {

// Decoders for the text arguments of protocol-0 opcodes, matching what CPython's unpickler
// produces. They matter for security: `S'\x6fs'` is the string "os", and a scanner that compares
// the raw text would miss it.

// STRING's argument: strips the matching quotes and applies codecs.escape_decode.
// nullopt when the argument is not quoted (CPython raises).
std::optional<std::string> decode_string_opcode(std::string_view line);

// UNICODE's argument: raw-unicode-escape (\uXXXX and \UXXXXXXXX, latin-1 bytes) to UTF-8.
std::optional<std::string> decode_raw_unicode_escape(std::string_view line);

// int() of INT/LONG/GET/PUT arguments: optional whitespace and sign, digits with single
// underscores; LONG may end in 'L'. nullopt if CPython would raise or the value needs more
// than 64 bits.
std::optional<std::int64_t> parse_decimal_int(std::string_view line, bool allow_long_suffix);

} // namespace modeld::formats
