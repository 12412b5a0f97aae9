// The progress bar modelctl draws on stderr from modeld's `stream: true` progress events,
// only when stderr is a terminal: a pipe or a log file gets no carriage-return noise.
#pragma once

#include "ctl/client.hpp"

#include <cstddef>
#include <cstdio>
#include <string>

namespace modeld::ctl {

// One line: "hashing [#########...........]  45%  1.20GiB/2.66GiB", the bar `width` wide.
std::string progress_line(const progress_event& event, std::size_t width);

class progress_bar {
public:
  // Draws on `out` (a terminal); the line is cleared at destruction, before the answer prints.
  explicit progress_bar(std::FILE* out) : out_(out) {}
  ~progress_bar();
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  void update(const progress_event& event);

private:
  std::FILE* out_;
  bool drawn_ = false;
};

// Whether a bar belongs on stderr: it is a terminal.
bool stderr_is_terminal();

} // namespace modeld::ctl
