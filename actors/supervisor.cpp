#include "actors/supervisor.hpp"

#include "actors/device.hpp"
#include "actors/supervision.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace modeld::actors {
namespace {

using self_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

void start_device(self_pointer self, const device_info& info) {
  auto handle = self->spawn(device, info, self->state.registry->board(), self->state.pools);
  self->monitor(handle);
  auto& state = self->state;
  state.children[handle.address()] = info.id;
  state.handles[info.id] = handle;
  self->state.registry->set_running(info.id, handle, state.restarts[info.id]);
}

void finish_shutdown_if_done(self_pointer self) {
  if (self->state.stopping && self->state.children.empty())
    finish_shutdown(self);
}

void on_child_down(self_pointer self, const caf::down_msg& msg) {
  auto& state = self->state;
  auto child = state.children.find(msg.source);
  if (child == state.children.end())
    return;
  auto device_id = child->second;
  state.children.erase(child);
  if (state.stopping) {
    finish_shutdown_if_done(self);
    return;
  }
  on_child_crash(self, state.policy, state.crashes[device_id], *state.registry, device_id, msg.reason, device_id);
}

} // namespace

supervisor_actor::behavior_type supervisor(self_pointer self, std::shared_ptr<device_registry> registry,
                                           restart_policy policy, worker_pools pools) {
  self->state.registry = std::move(registry);
  self->state.policy = policy;
  self->state.pools = std::move(pools);
  for (auto& info : self->state.registry->devices())
    start_device(self, info);
  self->set_down_handler([self](caf::down_msg& msg) { on_child_down(self, msg); });
  // Its devices do not outlive it (each keeps itself alive with its heartbeat).
  self->attach_functor([registry = self->state.registry](const caf::error&) {
    auto entries = registry->snapshot();
    for (auto& entry : *entries)
      if (entry.handle)
        caf::anon_send_exit(entry.handle, caf::exit_reason::user_shutdown);
  });
  return {
    // Devices start before the first message is handled, so this only confirms it.
    [](ready_atom) { return ok_atom::value; },
    [self](restart_atom, const std::string& device_id) {
      if (self->state.stopping)
        return;
      for (auto& info : self->state.registry->devices())
        if (info.id == device_id) {
          ++self->state.restarts[device_id];
          start_device(self, info);
        }
    },
    [self](shutdown_atom) -> caf::result<ok_atom> {
      auto& state = self->state;
      auto promise = self->make_response_promise<ok_atom>();
      state.shutdown_waiters.push_back(promise);
      if (!state.stopping) {
        state.stopping = true;
        // Reverse order of start: the last device started is the first one stopped.
        auto& devices = state.registry->devices();
        for (auto it = devices.rbegin(); it != devices.rend(); ++it)
          if (auto handle = state.handles.find(it->id); handle != state.handles.end())
            if (state.children.count(handle->second.address()) > 0)
              self->send_exit(handle->second, caf::exit_reason::user_shutdown);
      }
      finish_shutdown_if_done(self);
      return promise;
    },
  };
}

} // namespace modeld::actors
