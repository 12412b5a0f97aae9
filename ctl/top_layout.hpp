// The screen of `modelctl top` as lines of text, laid out for a terminal of a given size: a
// header (connection, cache, rates, worker queues, services), a table of devices with their
// loaded models, and the newest changes at the bottom. Pure, so the layout of 1 or 64 devices
// on any size is unit-tested; ctl/top_view.cpp only paints these lines.
#pragma once

#include "ctl/top_model.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modeld::ctl::top {

// How a line is painted (colour where the terminal has it).
enum class tone { plain, heading, busy, warning, error, dim };

struct line {
  std::string text;
  tone shade = tone::plain;
};

// The connection as ctl/top.cpp sees it.
struct link_state {
  std::string server = {}; // "127.0.0.1:7311"
  std::chrono::milliseconds interval{1000};
  bool connected = false;
  std::string reason = {};                                // why not, while disconnected
  unsigned attempt = 0;                                   // reconnection attempts that failed so far
  std::optional<std::chrono::milliseconds> retry_in = {}; // until the next attempt
};

struct screen_size {
  std::size_t width = 80;
  std::size_t height = 24;
};

struct frame {
  std::vector<line> lines; // exactly `height` lines, none wider than `width` columns
  std::size_t scroll = 0;     // the first device-table line shown, after clamping
  std::size_t max_scroll = 0; // 0 when the whole table fits
  std::size_t page = 1;       // device-table lines shown at once, for PgUp/PgDn
  bool folded = false;        // one line per device, its models summed up on it
};

// `scroll` is the first device-table line wanted (clamped); `now_ms` (Unix time) ages the
// models' last use.
frame lay_out(const model& state, const link_state& link, screen_size size, std::size_t scroll, std::int64_t now_ms);

// "[#####.....]": `used` of `budget` in `width` columns (brackets included); blank when either
// is absent.
std::string memory_bar(const count& used, const count& budget, std::size_t width);

// Time since a model's last use: "42s", "3m07s", "2h05m", "4d03h"; "-" when unknown.
std::string idle_text(const count& last_used_ms, std::int64_t now_ms);

// `text` cut to `width` display columns (UTF-8 code points, as table.hpp counts them).
std::string fit(const std::string& text, std::size_t width);

} // namespace modeld::ctl::top
