#include "actors/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

namespace modeld::log {
namespace {

std::atomic<level> threshold_{level::info};
std::atomic<format> style_{format::text};

spdlog::level::level_enum to_spdlog(level at) {
  switch (at) {
    case level::trace: return spdlog::level::trace;
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warning: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    case level::off: return spdlog::level::off;
  }
  return spdlog::level::off;
}

const char* pattern_of(format style) {
  return style == format::json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})" : "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
}

std::shared_ptr<spdlog::logger> make_logger(format style) {
  auto logger = std::make_shared<spdlog::logger>("modeld", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern(pattern_of(style), spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::trace); // the threshold is checked before rendering
  logger->flush_on(spdlog::level::trace);
  return logger;
}

std::mutex logger_mutex_;
std::shared_ptr<spdlog::logger> logger_ = make_logger(format::text);

std::shared_ptr<spdlog::logger> current_logger() {
  std::lock_guard lock{logger_mutex_};
  return logger_;
}

// JSON string escaping, also used for text values that need quotes.
void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

bool needs_quotes(std::string_view text) {
  if (text.empty())
    return true;
  for (unsigned char c : text)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
      return true;
  return false;
}

void append_value(std::string& out, format style, const field& f) {
  std::visit(
    [&](auto v) {
      using T = decltype(v);
      if constexpr (std::is_same_v<T, std::string_view>) {
        if (style == format::json || needs_quotes(v))
          append_quoted(out, v);
        else
          out += v;
      } else if constexpr (std::is_same_v<T, bool>) {
        out += v ? "true" : "false";
      } else if constexpr (std::is_same_v<T, double>) {
        char number[32];
        std::snprintf(number, sizeof number, "%.3f", v);
        out += number;
      } else {
        out += std::to_string(v);
      }
    },
    f.value);
}

} // namespace

std::optional<level> parse_level(std::string_view name) {
  if (name == "trace") return level::trace;
  if (name == "debug") return level::debug;
  if (name == "info") return level::info;
  if (name == "warning" || name == "warn") return level::warning;
  if (name == "error") return level::error;
  if (name == "off") return level::off;
  return std::nullopt;
}

std::optional<format> parse_format(std::string_view name) {
  if (name == "text") return format::text;
  if (name == "json") return format::json;
  return std::nullopt;
}

void configure(level threshold, format style) {
  threshold_ = threshold;
  style_ = style;
  auto logger = make_logger(style);
  std::lock_guard lock{logger_mutex_};
  logger_ = std::move(logger);
}

bool enabled(level at) { return at != level::off && at >= threshold_.load(std::memory_order_relaxed); }

std::string render(format style, std::string_view event, std::initializer_list<field> fields) {
  std::string out;
  if (style == format::json) {
    out += "\"event\":";
    append_quoted(out, event);
    for (auto& f : fields) {
      out += ',';
      append_quoted(out, f.key);
      out += ':';
      append_value(out, style, f);
    }
    return out;
  }
  out += event;
  for (auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    append_value(out, style, f);
  }
  return out;
}

void write(level at, std::string_view event, std::initializer_list<field> fields) {
  if (!enabled(at))
    return;
  auto body = render(style_.load(std::memory_order_relaxed), event, fields);
  current_logger()->log(to_spdlog(at), spdlog::string_view_t{body.data(), body.size()});
}

} // namespace modeld::log
