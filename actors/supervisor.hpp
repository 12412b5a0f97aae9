// The supervisor: spawns one device actor per device, monitors (never links) them, and
// restarts a crashed one after a backoff, within a restart-intensity limit. Callers reach
// devices only through the registry, which it keeps current.
#pragma once

#include "actors/actors.hpp"
#include "actors/registry.hpp"
#include "actors/restart_policy.hpp"
#include "actors/worker_pool.hpp"

#include <caf/actor_addr.hpp>
#include <caf/typed_response_promise.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace modeld::actors {

struct supervisor_state {
  static inline const char* name = "supervisor";
  std::shared_ptr<device_registry> registry;
  restart_policy policy;
  worker_pools pools; // handed to every device
  std::map<caf::actor_addr, std::string> children; // live child -> device id
  std::map<std::string, device_actor> handles;      // device id -> its current actor
  std::map<std::string, std::deque<restart_policy::time_point>> crashes;
  std::map<std::string, std::uint32_t> restarts;
  bool stopping = false;
  std::vector<caf::typed_response_promise<ok_atom>> shutdown_waiters;
};

supervisor_actor::behavior_type supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
                                           std::shared_ptr<device_registry> registry, restart_policy policy,
                                           worker_pools pools);

} // namespace modeld::actors
