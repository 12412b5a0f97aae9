// Runs the real modelctl binary as a child process, the way an operator or a script would:
// plain, with environment variables, on a terminal (util-linux `script`), or interrupted by
// SIGINT (coreutils `timeout -s INT`). MODELD_ADDR is removed from the environment unless a
// test sets it, so the tests do not depend on the shell they run in.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modeld::test {

struct ctl_options {
  std::vector<std::string> env = {};           // NAME=VALUE pairs to set
  bool terminal = false;                       // stdout and stderr on a pseudo-terminal (both arrive in out)
  std::optional<double> interrupt_after_s = {}; // SIGINT after this many seconds
  std::chrono::milliseconds limit{30000};
};

struct ctl_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

ctl_result run_modelctl(const std::vector<std::string>& args, const ctl_options& options = {});

// modelctl against the modeld on 127.0.0.1:`port` (--port prepended).
ctl_result modelctl(std::uint16_t port, std::vector<std::string> args, const ctl_options& options = {});

// The value of the `key: value` line of human output, trimmed; "(no such line)" when absent.
std::string field_of(const std::string& out, const std::string& key);

// The --json output parsed; fails the test unless modelctl succeeded with one JSON document.
boost::json::value json_of(const ctl_result& result);

// A socket on 127.0.0.1 that is bound and, if asked, listening, but never accepts or answers:
// bound only, connections to it are refused; listening, they are accepted by the kernel and
// then hear nothing. Closed, its port is one that was free a moment ago.
struct silent_port {
  explicit silent_port(bool listening);
  ~silent_port();
  silent_port(const silent_port&) = delete;
  silent_port& operator=(const silent_port&) = delete;
  int fd = -1;
  std::uint16_t port = 0;
};

} // namespace modeld::test
