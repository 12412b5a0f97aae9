// `modelctl top`: a live full-screen view of modeld, fed by one `subscribe_status` whose events
// modeld pushes (no request per refresh). Reconnects with a bounded backoff when the connection
// drops or modeld restarts, and resubscribes.
#pragma once

#include "ctl/run.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace modeld::ctl {

struct top_options {
  std::chrono::milliseconds interval{1000}; // subscribe_status's interval_ms
  std::optional<std::string> device;         // subscribe_status's device_id
};

// Adds `top`; its flags land in `options` at parse time.
void add_top_command(CLI::App& app, top_options& options);

// Runs until q, Ctrl-C or a signal; returns the exit code (ctl/exit_codes.hpp).
int run_top(const global_options& options, const top_options& top);

} // namespace modeld::ctl
