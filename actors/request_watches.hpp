// Requests an actor holds to other actors, watched for the death of their target. An actor
// that dies while holding a request (a crash during a load, an exception in a handler) never
// answers it (CAF 0.17 drops an undelivered response promise silently), so whoever waits on
// one monitors the target and answers with the cause of death instead. One monitor per target,
// however many requests wait on it; the monitor stays while the target lives (the entry goes
// with its down message), as requests to the same few actors would otherwise monitor and
// demonitor it once each. Used on the owning actor's own thread only.
#pragma once

#include <caf/actor_addr.hpp>
#include <caf/make_message.hpp>
#include <caf/sec.hpp>
#include <caf/error.hpp>
#include <caf/system_messages.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <utility>

namespace modeld::actors {

class request_watches {
public:
  using on_down_type = std::function<void(const caf::error&)>;

  // Calls `on_down` with the exit reason if `target` terminates before unwatch(id) (at once
  // when it is gone already: CAF then sends the down message right away). `self` monitors.
  template <class Self>
  std::uint64_t watch(Self* self, const caf::actor_addr& target, on_down_type on_down) {
    auto [it, first] = watches_.try_emplace(target);
    if (first)
      self->monitor(target);
    auto id = ++next_;
    it->second.emplace(id, std::move(on_down));
    return id;
  }

  void unwatch(const caf::actor_addr& target, std::uint64_t id);

  // For the owner's down handler: answers every request still watched on the dead actor.
  void on_down(const caf::down_msg& down);

private:
  std::uint64_t next_ = 0;
  std::map<caf::actor_addr, std::map<std::uint64_t, on_down_type>> watches_;
};

// `self` (a stateful actor whose state has `watches`) requests `args...` of `handle` (within
// `timeout`, or caf::infinite) and calls
// exactly one of `on_result(Result&)` or `on_error(const caf::error&)`: the answer, the
// request's error, or the target's death while it held the request. An invalid handle (a
// supervised service between a crash and its restart) is an error at once.
template <class Result, class Self, class Handle, class Timeout, class OnResult, class OnError, class... Ts>
void watched_request(Self* self, const Handle& handle, Timeout timeout, OnResult on_result, OnError on_error,
                     Ts&&... args) {
  if (!handle) {
    on_error(caf::make_error(caf::sec::request_receiver_down, "restarting after a crash"));
    return;
  }
  auto answered = std::make_shared<bool>(false);
  auto target = handle.address();
  auto id = self->state.watches.watch(self, target, [answered, on_error](const caf::error& reason) {
    if (!std::exchange(*answered, true))
      on_error(caf::make_error(caf::sec::request_receiver_down, caf::to_string(reason)));
  });
  self->request(handle, timeout, std::forward<Ts>(args)...)
    .then(
      [self, target, id, answered, on_result](Result& result) mutable {
        self->state.watches.unwatch(target, id);
        if (!std::exchange(*answered, true))
          on_result(result);
      },
      [self, target, id, answered, on_error](caf::error& error) {
        self->state.watches.unwatch(target, id);
        if (!std::exchange(*answered, true))
          on_error(error);
      });
}

} // namespace modeld::actors
