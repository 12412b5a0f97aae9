// Every device's latest status, published by the device itself on each change and each status
// answer, so readers have the last known state of a device that stopped answering (hung) or
// went down (restarting), with its age. A device's counters are carried from one incarnation
// to the next, so they never go backwards across a restart.
#pragma once

#include "actors/messages.hpp"

#include <caf/actor_addr.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace modeld::actors {

struct published_status {
  device_status status;      // its counters include those of earlier incarnations
  std::int64_t at_ms = 0;    // Unix epoch milliseconds of the publication
  caf::actor_addr from;      // the incarnation that published it
};

class device_board {
public:
  void publish(const caf::actor_addr& from, device_status status);
  std::optional<published_status> latest(const std::string& device_id) const;

private:
  struct slot {
    published_status latest;
    device_status carried; // counters of the incarnations before `latest.from`
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, slot> slots_;
};

} // namespace modeld::actors
