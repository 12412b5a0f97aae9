// A CAF actor system on the deterministic test coordinator: tests run actors step by step
// and move time by hand (timeouts, restart backoff).
#pragma once

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scheduler/test_coordinator.hpp>

namespace modeld::test {

struct test_config : caf::actor_system_config {
  test_config() { set("scheduler.policy", caf::atom("testing")); }
};

struct deterministic_system {
  test_config config;
  caf::actor_system system{config};
  caf::scheduler::test_coordinator& scheduler = dynamic_cast<caf::scheduler::test_coordinator&>(system.scheduler());

  void run() { scheduler.run(); }
  // Fires every pending timeout (delayed messages, request deadlines) and runs the effects.
  void fire_timeouts() {
    scheduler.trigger_timeouts();
    scheduler.run();
  }
};

} // namespace modeld::test
