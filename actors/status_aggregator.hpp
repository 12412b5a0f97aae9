// The status aggregator: answers status for all devices (or one) by asking each device
// actor in parallel under a per-device deadline. A restarting, failed or silent device is
// reported as such; the answer never waits longer than the deadline. A device that misses the
// deadline is unresponsive (in the registry too, so every command says so) and is reported
// with its last known status and its age; counters are carried across restarts.
//
// Deadlines are kept here rather than as CAF request timeouts: those put one entry per
// device request on CAF's clock thread (a lock and a wake-up each), which cost more than
// the status answer itself. One delayed sweep message serves every open gathering.
#pragma once

#include "actors/actors.hpp"
#include "actors/registry.hpp"

#include <caf/actor_clock.hpp>
#include <caf/timespan.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

namespace modeld::actors {

struct gathering;

struct status_aggregator_state {
  static inline const char* name = "status_aggregator";
  std::shared_ptr<device_registry> registry;
  caf::timespan deadline{};
  caf::timespan heartbeat{}; // zero: no heartbeat
  // Open gatherings in order of deadline (deadlines are a constant apart from arrival).
  std::deque<std::pair<caf::actor_clock::time_point, std::shared_ptr<gathering>>> open;
  bool sweep_armed = false;
  // Status requests a device has not answered yet; past the cap it is not asked again
  // until it answers, so a hung device cannot make pending requests pile up here.
  std::unordered_map<std::string, std::size_t> unanswered;
};

inline constexpr std::size_t max_unanswered_per_device = 64;

// A report for a device that has not answered (yet): its registry state, and the counters it
// last published (carried across restarts).
device_report unanswered_report(const registry_entry& entry, const std::optional<published_status>& last);

// `heartbeat`: how often every device is asked on its own (zero: only when status is asked).
status_aggregator_actor::behavior_type
status_aggregator(status_aggregator_actor::stateful_pointer<status_aggregator_state> self,
                  std::shared_ptr<device_registry> registry, caf::timespan per_device_deadline,
                  caf::timespan heartbeat);

} // namespace modeld::actors
