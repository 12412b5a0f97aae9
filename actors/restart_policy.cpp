#include "actors/restart_policy.hpp"

#include <algorithm>

namespace modeld::actors {

std::optional<std::chrono::milliseconds> restart_policy::on_crash(std::deque<time_point>& crashes,
                                                                   time_point now) const {
  while (!crashes.empty() && now - crashes.front() > window)
    crashes.pop_front();
  crashes.push_back(now);
  if (crashes.size() > max_restarts)
    return std::nullopt;
  auto delay = initial_backoff;
  for (std::size_t i = 1; i < crashes.size() && delay < max_backoff; ++i)
    delay *= 2;
  return std::min(delay, max_backoff);
}

} // namespace modeld::actors
