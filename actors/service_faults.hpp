// Faults injected into a service actor (inject_fault with target metadata_store, cache or
// validation), for testing restarts and timeouts the way device faults do:
//   crash  the actor quits with an error; the service supervisor restarts it.
//   hang   for duration_ms it takes no message: they wait in its mailbox and are handled after.
//   slow   for duration_ms it works 10 ms out of every 100 ms, the same pauses as a hang.
// oom is a device fault (a load that does not fit); services refuse it. A pause is a
// behavior pushed on top of the actor's own that handles only its end and skips everything
// else, so nothing is lost or answered early. Only one fault at a time per service.
#pragma once

#include "actors/atoms.hpp"
#include "actors/errors.hpp"
#include "actors/messages.hpp"

#include <caf/actor_cast.hpp>
#include <caf/behavior.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/skip.hpp>

#include <chrono>
#include <memory>

namespace modeld::actors {

// A service's fault in progress; a member of each service's state.
struct service_fault {
  bool active = false;
  bool slow = false;
  caf::actor_clock::time_point until{};
};

namespace fault_detail {

inline constexpr std::chrono::milliseconds slow_pause{90};
inline constexpr std::chrono::milliseconds slow_work{10};

template <class Self>
void pause(Self* self, std::chrono::milliseconds length);

// Between the pauses of a slow fault: the actor's own behavior runs, and a pause tick (sent
// untyped, so it reaches this default handler) starts the next pause.
template <class Self>
void work_until_next_pause(Self* self) {
  self->set_default_handler([self](caf::scheduled_actor* actor, caf::message_view& view) -> caf::result<caf::message> {
    if (view.content().template match_elements<resume_atom>()) {
      pause(self, slow_pause);
      return caf::message{};
    }
    return caf::print_and_drop(actor, view);
  });
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), slow_work, resume_atom::value);
}

template <class Self>
void end_pause(Self* self) {
  self->unbecome(); // the skipped messages are handled now, in order
  auto& fault = self->state.fault;
  if (fault.slow && self->clock().now() < fault.until) {
    work_until_next_pause(self);
    return;
  }
  fault = service_fault{};
  self->set_default_handler(caf::print_and_drop);
}

template <class Self>
void pause(Self* self, std::chrono::milliseconds length) {
  using behavior_type = typename Self::behavior_type;
  self->set_default_handler(caf::skip);
  self->become(caf::keep_behavior,
               behavior_type{typename behavior_type::unsafe_init{},
                             caf::behavior{[self](resume_atom, std::uint64_t) { end_pause(self); }}});
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), length, resume_atom::value, std::uint64_t{0});
}

} // namespace fault_detail

template <class Self>
caf::result<ok_atom> inject_service_fault(Self* self, const fault_request& fault) {
  auto& current = self->state.fault;
  if (current.active)
    return make_error(errc::invalid_request, "a fault is already running on this service");
  const auto duration = std::chrono::milliseconds(fault.duration_ms);
  if (fault.mode == "crash") {
    self->quit(caf::make_error(caf::sec::runtime_error, "injected crash"));
    return ok_atom::value;
  }
  if (fault.mode == "hang" || fault.mode == "slow") {
    current = service_fault{true, fault.mode == "slow", self->clock().now() + duration};
    fault_detail::pause(self, fault.mode == "hang" ? duration : fault_detail::slow_pause);
    return ok_atom::value;
  }
  return make_error(errc::invalid_request, "mode " + fault.mode + " applies to devices only");
}

} // namespace modeld::actors
