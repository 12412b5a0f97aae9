// Wall-clock time as the protocol reports it: Unix epoch milliseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace modeld::actors {

inline std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace modeld::actors
