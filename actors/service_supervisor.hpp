// The service supervisor: spawns the metadata store, the RAM cache and the validation
// coordinator, monitors them, and restarts one that crashed after a backoff, within the same
// restart-intensity limit as devices. Everyone reaches them through the service registry.
// What a restart keeps: the store reopens from SQLite (every acknowledged write is on disk);
// the cache starts empty (its buffers go back to the system) and validation with no scans.
#pragma once

#include "actors/actors.hpp"
#include "actors/restart_policy.hpp"
#include "actors/service_registry.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/typed_response_promise.hpp>

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace modeld::actors {

// How to start each service, in all_services order (the start order; stops run backwards).
using service_spawner = std::function<caf::strong_actor_ptr(caf::actor_system&)>;
using service_spawners = std::array<service_spawner, all_services.size()>;

struct service_supervisor_state {
  static inline const char* name = "service_supervisor";
  std::shared_ptr<service_registry> registry;
  service_spawners spawners;
  restart_policy policy;
  std::map<caf::actor_addr, service> children;
  std::array<caf::strong_actor_ptr, all_services.size()> handles;
  std::array<std::deque<restart_policy::time_point>, all_services.size()> crashes;
  std::array<std::uint32_t, all_services.size()> restarts{};
  bool stopping = false;
  std::vector<caf::typed_response_promise<ok_atom>> shutdown_waiters;
};

supervisor_actor::behavior_type
service_supervisor(supervisor_actor::stateful_pointer<service_supervisor_state> self,
                   std::shared_ptr<service_registry> registry, service_spawners spawners, restart_policy policy);

} // namespace modeld::actors
