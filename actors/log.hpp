// modeld's log: one structured line for each decision an operator must be able to see (a
// restart, an injected fault, a failed load, an eviction, a refused client, a slow request),
// written to stderr, where journald takes it. Two formats:
//   text  2026-11-30T16:50:00.123Z warning restart component=cpu:0 reason="injected crash"
//   json  {"time":"2026-11-30T16:50:00.123Z","level":"warning","event":"restart","component":"cpu:0",...}
// Lines about a request carry its request_id. spdlog writes the lines (thread-safe, one
// write per line); this header keeps spdlog's headers out of every file that logs.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace modeld::log {

enum class level { trace, debug, info, warning, error, off };
enum class format { text, json };

std::optional<level> parse_level(std::string_view name);   // trace, debug, info, warning (warn), error, off
std::optional<format> parse_format(std::string_view name); // text, json

// Until configured: info and above, as text.
void configure(level threshold, format style);
bool enabled(level at);

// One key=value of a line; strings are quoted (and escaped) where needed.
struct field {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool> value;

  field(std::string_view k, std::string_view v) : key(k), value(v) {}
  field(std::string_view k, const std::string& v) : key(k), value(std::string_view{v}) {}
  field(std::string_view k, const char* v) : key(k), value(std::string_view{v}) {}
  field(std::string_view k, bool v) : key(k), value(v) {}
  field(std::string_view k, double v) : key(k), value(v) {}
  template <class Int, std::enable_if_t<std::is_integral_v<Int> && !std::is_same_v<Int, bool>, int> = 0>
  field(std::string_view k, Int v) : key(k) {
    if constexpr (std::is_signed_v<Int>)
      value = static_cast<std::int64_t>(v);
    else
      value = static_cast<std::uint64_t>(v);
  }
};

// The line's body (event and fields) in `style`, without time and level.
std::string render(format style, std::string_view event, std::initializer_list<field> fields);

void write(level at, std::string_view event, std::initializer_list<field> fields);

inline void info(std::string_view event, std::initializer_list<field> fields) { write(level::info, event, fields); }
inline void warning(std::string_view event, std::initializer_list<field> fields) {
  write(level::warning, event, fields);
}
inline void error(std::string_view event, std::initializer_list<field> fields) { write(level::error, event, fields); }

} // namespace modeld::log
