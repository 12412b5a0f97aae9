// The terminal side of `modelctl top`: ncurses set up and given back, frames painted, keys
// read. The only file that includes curses.h, whose macros (`timeout`, `erase`, `move`, ...)
// would clash with names elsewhere.
#pragma once

#include "ctl/top_layout.hpp"

#include <chrono>

struct screen; // ncurses' SCREEN, declared here so that curses.h stays in top_view.cpp

namespace modeld::ctl::top {

enum class key { none, quit, up, down, page_up, page_down, home, end, resize, other };

class terminal {
public:
  // Takes over the terminal on stdin/stdout (alternate screen, no echo, keys one by one);
  // throws std::runtime_error when it cannot (no TERM, or one terminfo does not know).
  terminal();
  // Gives the terminal back as it was, whatever ended top.
  ~terminal();
  terminal(const terminal&) = delete;
  terminal& operator=(const terminal&) = delete;

  screen_size size() const;
  void paint(const frame& shown);
  // The next key, waiting at most `wait` for one (0: only a key already typed).
  key next_key(std::chrono::milliseconds wait);

private:
  ::screen* screen_ = nullptr;
  bool colours_ = false;
};

} // namespace modeld::ctl::top
