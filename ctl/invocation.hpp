// What one modelctl subcommand asks of modeld: one protocol command with its data, and how to
// show the answer to a person. Subcommands only build these; ctl/run.cpp sends them.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <functional>
#include <ostream>
#include <string>
#include <string_view>

namespace modeld::ctl {

// A successful answer as a renderer sees it.
struct answer {
  const boost::json::value& data;
  double round_trip_ms;    // request written to answer read, measured by modelctl
  std::string_view server; // "127.0.0.1:7311"
};

struct invocation {
  std::string command; // the protocol command, e.g. "post_model_load"
  boost::json::object data;
  // Validate, scan, load and bench: long work that sends progress events, shown as a bar
  // when stderr is a terminal.
  bool long_running = false;
  // Human output of a successful answer (--json prints the data instead).
  std::function<void(const answer&, std::ostream&)> print;
};

} // namespace modeld::ctl
