// modelctl's exit codes, one per class of outcome, so scripts can tell a refusal by modeld
// from a typo and from a server that is not there.
#pragma once

namespace modeld::ctl {

enum exit_code : int {
  exit_ok = 0,
  exit_server_error = 1, // modeld answered with an error (its code and message go to stderr)
  exit_usage = 2,        // bad flags or arguments, CLI11's parse errors included
  exit_transport = 3,    // cannot connect, connection lost, or no answer in time
  exit_interrupted = 130, // Ctrl-C: the request was cancelled (128 + SIGINT, as shells report it)
};

} // namespace modeld::ctl
