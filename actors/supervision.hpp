// What the device supervisor and the service supervisor do alike: decide on a crashed child
// (restart after the backoff, or fail it past the limit) and answer a finished shutdown.
#pragma once

#include "actors/atoms.hpp"
#include "actors/log.hpp"
#include "actors/restart_policy.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <deque>
#include <string>

namespace modeld::actors {

// A child went down while its supervisor was not stopping: records the crash; past the
// policy's limit the registry marks `key` failed, else restarting, and `self` gets
// (restart_atom, restart_name) after the backoff.
template <class Self, class Registry, class Key>
void on_child_crash(Self* self, const restart_policy& policy, std::deque<restart_policy::time_point>& crashes,
                    Registry& registry, const Key& key, const caf::error& error, const std::string& restart_name) {
  auto reason = error ? self->system().render(error) : std::string{"stopped"};
  auto delay = policy.on_crash(crashes, self->clock().now());
  if (!delay) {
    log::error("failed", {{"component", restart_name}, {"reason", reason}, {"crashes", crashes.size()}});
    registry.set_failed(key, "restart limit reached; last error: " + reason);
    return;
  }
  log::warning("restart", {{"component", restart_name},
                           {"reason", reason},
                           {"backoff_ms", std::chrono::duration_cast<std::chrono::milliseconds>(*delay).count()}});
  registry.set_restarting(key, std::move(reason));
  self->delayed_send(self, *delay, restart_atom::value, restart_name);
}

// Every child has stopped: answers the shutdown requests and quits.
template <class Self>
void finish_shutdown(Self* self) {
  for (auto& waiter : self->state.shutdown_waiters)
    waiter.deliver(ok_atom::value);
  self->state.shutdown_waiters.clear();
  self->quit();
}

} // namespace modeld::actors
