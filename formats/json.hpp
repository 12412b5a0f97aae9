#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::formats {

struct json_member;

// A small strict JSON document model, enough for the safetensors header. Strict means: RFC 8259
// grammar only, UTF-8 validated (no lone surrogates), duplicate object keys rejected rather than
// silently keeping the first or last (loaders disagree on which, which is an attack surface),
// and nesting depth bounded so hostile headers cannot exhaust the stack.
struct json_value {
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };

  kind type = kind::null;
  bool boolean = false;
  // For numbers: set when the literal is a non-negative integer that fits 64 bits.
  bool is_unsigned = false;
  std::uint64_t unsigned_value = 0;
  // String contents (unescaped), or a number's literal text.
  std::string text;
  std::vector<json_value> items;
  std::vector<json_member> members; // in document order

  const json_value* find(std::string_view key) const noexcept;
};

struct json_member {
  std::string key;
  json_value value;
};

enum class json_error_kind { syntax, invalid_utf8, duplicate_key, too_deep };

struct json_error {
  json_error_kind kind = json_error_kind::syntax;
  std::string message;
  std::uint64_t offset = 0; // byte offset within the parsed text
};

struct json_limits {
  std::size_t max_depth = 64;
};

// Parses exactly one JSON value surrounded by optional whitespace.
std::optional<json_value> parse_json(std::string_view text, json_error& error,
                                     json_limits limits = {});

} // namespace modeld::formats
