// Runs one invocation against modeld: connect, authenticate, send, print; returns the exit
// code (ctl/exit_codes.hpp).
#pragma once

#include "ctl/address.hpp"
#include "ctl/invocation.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace modeld::ctl {

struct global_options {
  address server;
  std::optional<std::string> token_file; // sent in `hello` before the command
  bool json = false;                     // print the answer's data as one JSON document
  std::chrono::milliseconds timeout{60000};
};

int run(const global_options& options, const invocation& what);

} // namespace modeld::ctl
