#include "actors/bridge.hpp"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace modeld::actors {
namespace {

caf::behavior gateway(gateway_actor* self) {
  self->set_down_handler([self](caf::down_msg& down) {
    auto it = self->state.watches.find(down.source);
    if (it == self->state.watches.end())
      return;
    auto watchers = std::move(it->second);
    self->state.watches.erase(it);
    for (auto& [id, on_down] : watchers)
      on_down(down.reason);
  });
  return {
    [self](gateway_job& job) { job.run(self); },
  };
}

} // namespace

std::uint64_t watch(gateway_actor* self, const caf::actor_addr& target, std::function<void(const caf::error&)> on_down) {
  auto [it, first] = self->state.watches.try_emplace(target);
  if (first)
    self->monitor(target); // one monitor per target, however many requests wait on it
  auto& watchers = it->second;
  auto id = ++self->state.next_watch;
  watchers.emplace(id, std::move(on_down));
  return id;
}

// The monitor stays while the target lives (the entry goes with its down message): requests
// to the same few actors would otherwise monitor and demonitor it once each.
void unwatch(gateway_actor* self, const caf::actor_addr& target, std::uint64_t id) {
  if (auto it = self->state.watches.find(target); it != self->state.watches.end())
    it->second.erase(id);
}

actor_bridge::actor_bridge(caf::actor_system& system, std::size_t gateways) {
  for (std::size_t i = 0; i < std::max<std::size_t>(gateways, 1); ++i)
    gateways_.push_back(system.spawn(gateway));
}

actor_bridge::~actor_bridge() {
  for (auto& g : gateways_)
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
}

void actor_bridge::dispatch(std::function<void(gateway_actor*)> job) {
  auto& target = gateways_[next_.fetch_add(1, std::memory_order_relaxed) % gateways_.size()];
  caf::anon_send(target, gateway_job{std::move(job)});
}

} // namespace modeld::actors
