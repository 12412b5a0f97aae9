// Limits of the TCP front end against abuse and overload.
#pragma once

#include <chrono>
#include <cstddef>

namespace modeld::protocol {

struct server_limits {
  std::size_t max_frame_bytes = 1 << 20;        // longer lines: FRAME_TOO_LARGE
  std::size_t max_connections = 1024;           // more: one OVERLOADED line, then closed
  std::size_t max_in_flight_per_connection = 256; // more pipelined requests wait unread
  std::size_t max_queued_response_bytes = 16 << 20; // the write queue; reading pauses above it
  std::chrono::milliseconds half_line_timeout{30000}; // a started line must end within this
  // A connection with nothing in flight, no subscription and no bytes received for this long
  // is closed, so idle sockets cannot hold every slot of max_connections. 0: never.
  std::chrono::milliseconds idle_timeout{600000};
  std::chrono::milliseconds drain_grace{10000};   // shutdown waits this long for in-flight work
  std::chrono::milliseconds slow_request{1000};   // answered later than this: one log line. 0: none
};

} // namespace modeld::protocol
