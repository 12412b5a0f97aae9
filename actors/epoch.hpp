// Time as the protocol reports it: Unix epoch milliseconds, and measured durations in
// milliseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace modeld::actors {

inline std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// Milliseconds (fractional) from `since` until now, on the steady clock.
inline double ms_since(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

} // namespace modeld::actors
