// Runs one invocation against modeld: connect, authenticate, send, print; returns the exit
// code (ctl/exit_codes.hpp). The steps are shared with `top` (ctl/top.cpp).
#pragma once

#include "ctl/address.hpp"
#include "ctl/client.hpp"
#include "ctl/invocation.hpp"

#include <boost/json/object.hpp>

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

// Connecting is quick or hopeless: a long --timeout-ms for a benchmark should not make an
// unreachable host hang for as long.
inline constexpr std::chrono::milliseconds connect_limit{10000};

int run(const global_options& options, const invocation& what);

// The token to send in `hello`: none without --token-file. False, having said why on stderr,
// when the file cannot be read or holds no token (a usage error).
bool token_for(const global_options& options, std::optional<std::string>& token);

// Sends `hello` with `token`; check the answer with succeeded().
reply authenticate(client& connection, const std::string& token, const call_options& options);

// Writes modeld's error answer (code, message, details, a hint about tokens) on stderr;
// returns exit_server_error.
int report_error(const boost::json::object& line, bool sent_token);

} // namespace modeld::ctl
