// The status aggregator: answers status for all devices (or one) by asking each device
// actor in parallel under a per-device deadline. A restarting, failed or silent device is
// reported as such; the answer never waits longer than the deadline.
#pragma once

#include "actors/actors.hpp"
#include "actors/registry.hpp"

#include <caf/timespan.hpp>

#include <memory>

namespace modeld::actors {

struct status_aggregator_state {
  static inline const char* name = "status_aggregator";
  std::shared_ptr<const device_registry> registry;
  caf::timespan deadline{};
};

// A report for a device that could not be asked (restarting or failed).
device_report unanswered_report(const registry_entry& entry);

status_aggregator_actor::behavior_type
status_aggregator(status_aggregator_actor::stateful_pointer<status_aggregator_state> self,
                  std::shared_ptr<const device_registry> registry, caf::timespan per_device_deadline);

} // namespace modeld::actors
