// The device use cases, as an actor: load, unload, benchmark, and reading a model into the RAM
// cache. It owns the sequence of asks each takes (the device named or placed, the model
// resolved by the scanner, fetched through the RAM cache, loaded or measured by the device, a
// load reported back to the cache) with `.then` continuations, never blocking, and answers one
// typed result; the front end parses, asks once and renders. It watches the actors it waits
// on, so a device that dies holding work is answered for, and forwards the requester's drop
// to the device doing the work.
#pragma once

#include "actors/actors.hpp"
#include "actors/registry.hpp"
#include "actors/request_watches.hpp"
#include "actors/service_registry.hpp"

#include <caf/stateful_actor.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <set>

namespace modeld::actors {

struct load_coordinator_state {
  static inline const char* name = "load_coordinator";
  std::shared_ptr<const device_registry> devices;
  std::shared_ptr<const service_registry> services;
  scanner_actor scanner;
  request_watches watches;
  std::map<std::uint64_t, device_actor> working; // ticket -> the device doing its work
  std::set<std::uint64_t> started;               // tickets between their start and their answer
  std::set<std::uint64_t> dropped;               // of those, dropped before a device took them
};

using load_coordinator_pointer = load_coordinator_actor::stateful_pointer<load_coordinator_state>;

load_coordinator_actor::behavior_type load_coordinator(load_coordinator_pointer self,
                                                       std::shared_ptr<const device_registry> devices,
                                                       std::shared_ptr<const service_registry> services,
                                                       scanner_actor scanner);

} // namespace modeld::actors
