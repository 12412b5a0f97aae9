// When the supervisor restarts a crashed child: exponential backoff, and a restart
// intensity limit (at most max_restarts within window) after which the child is failed.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

namespace modeld::actors {

struct restart_policy {
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  unsigned max_restarts = 5;
  std::chrono::milliseconds window{60000};

  using time_point = std::chrono::steady_clock::time_point;

  // Records a crash at `now` in `crashes` (pruning old ones) and returns the delay before
  // the restart, or nothing when the intensity limit is exceeded.
  std::optional<std::chrono::milliseconds> on_crash(std::deque<time_point>& crashes, time_point now) const;
};

} // namespace modeld::actors
