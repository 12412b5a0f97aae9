#include "ctl/top_view.hpp"

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <curses.h>

namespace modeld::ctl::top {
namespace {

enum colour_pair : short { busy_pair = 1, warning_pair, error_pair };

attr_t attributes(tone shade, bool colours) {
  switch (shade) {
  case tone::heading:
    return A_BOLD;
  case tone::busy:
    return colours ? COLOR_PAIR(busy_pair) : A_NORMAL;
  case tone::warning:
    return colours ? COLOR_PAIR(warning_pair) | A_BOLD : A_BOLD;
  case tone::error:
    return colours ? COLOR_PAIR(error_pair) | A_BOLD : A_REVERSE;
  case tone::dim:
    return A_DIM;
  case tone::plain:
    break;
  }
  return A_NORMAL;
}

} // namespace

terminal::terminal() {
  // Model ids may hold any UTF-8; ncursesw draws them only under the user's locale.
  std::setlocale(LC_ALL, "");
  // newterm, not initscr: initscr ends the process on an unknown terminal, newterm says so.
  screen_ = newterm(nullptr, stdout, stdin);
  if (screen_ == nullptr) {
    const char* term = std::getenv("TERM");
    throw std::runtime_error("cannot use the terminal (TERM=" + std::string{term ? term : "unset"} + ")");
  }
  set_term(screen_);
  cbreak(); // keys one by one; Ctrl-C stays a signal, which top handles
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  if (has_colors()) {
    start_color();
    use_default_colors(); // keep the user's background
    init_pair(busy_pair, COLOR_CYAN, -1);
    init_pair(warning_pair, COLOR_YELLOW, -1);
    init_pair(error_pair, COLOR_RED, -1);
    colours_ = true;
  }
}

terminal::~terminal() {
  endwin();
  delscreen(screen_);
}

screen_size terminal::size() const {
  int height = 0, width = 0;
  getmaxyx(stdscr, height, width);
  return {static_cast<std::size_t>(width > 0 ? width : 0), static_cast<std::size_t>(height > 0 ? height : 0)};
}

void terminal::paint(const frame& shown) {
  werase(stdscr);
  auto height = size().height;
  for (std::size_t row = 0; row < shown.lines.size() && row < height; ++row) {
    auto& l = shown.lines[row];
    wattrset(stdscr, attributes(l.shade, colours_));
    // Lines are already cut to the width. The bottom-right cell makes waddstr report ERR (the
    // cursor cannot move past it) after drawing it, which is fine.
    mvwaddstr(stdscr, static_cast<int>(row), 0, l.text.c_str());
  }
  wattrset(stdscr, A_NORMAL);
  wnoutrefresh(stdscr);
  doupdate();
}

key terminal::next_key(std::chrono::milliseconds wait) {
  wtimeout(stdscr, static_cast<int>(wait.count()));
  switch (wgetch(stdscr)) {
  case ERR:
    return key::none;
  case 'q':
  case 'Q':
    return key::quit;
  case KEY_UP:
  case 'k':
    return key::up;
  case KEY_DOWN:
  case 'j':
    return key::down;
  case KEY_PPAGE:
    return key::page_up;
  case KEY_NPAGE:
  case ' ':
    return key::page_down;
  case KEY_HOME:
  case 'g':
    return key::home;
  case KEY_END:
  case 'G':
    return key::end;
  case KEY_RESIZE:
    return key::resize;
  default:
    return key::other;
  }
}

} // namespace modeld::ctl::top
