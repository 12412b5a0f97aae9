#include "actors/service_supervisor.hpp"

#include "actors/supervision.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

namespace modeld::actors {
namespace {

using self_pointer = supervisor_actor::stateful_pointer<service_supervisor_state>;

std::size_t slot(service which) { return static_cast<std::size_t>(which); }

void start_service(self_pointer self, service which) {
  auto& state = self->state;
  auto handle = state.spawners[slot(which)](self->system());
  self->monitor(handle);
  state.children[caf::actor_cast<caf::actor_addr>(handle)] = which;
  state.handles[slot(which)] = handle;
  state.registry->set_running(which, handle, state.restarts[slot(which)]);
}

// Stops the next service still running, last started first; answers the waiters when none is.
void stop_next(self_pointer self) {
  auto& state = self->state;
  for (auto it = all_services.rbegin(); it != all_services.rend(); ++it) {
    auto& handle = state.handles[slot(*it)];
    if (handle && state.children.count(caf::actor_cast<caf::actor_addr>(handle)) > 0) {
      self->send_exit(handle, caf::exit_reason::user_shutdown);
      return; // its down message stops the next one
    }
  }
  finish_shutdown(self);
}

void on_child_down(self_pointer self, const caf::down_msg& msg) {
  auto& state = self->state;
  auto child = state.children.find(msg.source);
  if (child == state.children.end())
    return;
  auto which = child->second;
  state.children.erase(child);
  state.handles[slot(which)] = nullptr;
  if (state.stopping) {
    stop_next(self);
    return;
  }
  on_child_crash(self, state.policy, state.crashes[slot(which)], *state.registry, which, msg.reason,
                 std::string{to_string(which)});
}

} // namespace

supervisor_actor::behavior_type service_supervisor(self_pointer self, std::shared_ptr<service_registry> registry,
                                                   service_spawners spawners, restart_policy policy) {
  self->state.registry = std::move(registry);
  self->state.spawners = std::move(spawners);
  self->state.policy = policy;
  for (auto which : all_services)
    start_service(self, which);
  self->set_down_handler([self](caf::down_msg& msg) { on_child_down(self, msg); });
  return {
    [](ready_atom) { return ok_atom::value; },
    [self](restart_atom, const std::string& name) {
      auto which = service_named(name);
      if (self->state.stopping || !which)
        return;
      ++self->state.restarts[slot(*which)];
      start_service(self, *which);
    },
    [self](shutdown_atom) -> caf::result<ok_atom> {
      auto& state = self->state;
      auto promise = self->make_response_promise<ok_atom>();
      state.shutdown_waiters.push_back(promise);
      if (!state.stopping) {
        state.stopping = true;
        stop_next(self);
      }
      return promise;
    },
  };
}

} // namespace modeld::actors
