// Every typed actor interface of modeld, in one place.
#pragma once

#include "actors/atoms.hpp"
#include "actors/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <string>

namespace modeld::actors {

// One per device (GPU or virtual CPU device): holds models in that device's memory.
using device_actor = caf::typed_actor<
  // Reports memory, loaded models and counters; answers at once, even during loads.
  caf::replies_to<status_atom>::with<device_status>,
  // Injects a fault: crash (stop with an error), hang (hold every answer for the
  // duration), slow (delay every answer by slow_answer_delay for the duration).
  caf::replies_to<fault_atom, fault_request>::with<ok_atom>,
  // Ends a hang or delivers one delayed answer (sent to itself with a delay).
  caf::reacts_to<resume_atom, std::uint64_t>>;

// Asks every device in parallel, each under a deadline, and merges the answers.
using status_aggregator_actor = caf::typed_actor<
  // Status of one device (its id) or of all (empty string); never waits past the deadline.
  caf::replies_to<status_atom, std::string>::with<cluster_status>,
  // Answers every gathering whose deadline has passed (sent to itself with a delay).
  caf::reacts_to<sweep_atom>>;

// Spawns, monitors and restarts the device actors, publishing their handles in the registry.
using supervisor_actor = caf::typed_actor<
  // Answers once every device actor has been started and registered.
  caf::replies_to<ready_atom>::with<ok_atom>,
  // Restarts a device after its backoff (sent to itself with a delay).
  caf::reacts_to<restart_atom, std::string>,
  // Stops every child in reverse order of start, then replies.
  caf::replies_to<shutdown_atom>::with<ok_atom>>;

} // namespace modeld::actors
