#include "actors/bridge.hpp"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace modeld::actors {
namespace {

caf::behavior gateway(gateway_actor* self) {
  self->set_down_handler([self](caf::down_msg& down) { self->state.watches.on_down(down); });
  return {
    [self](gateway_job& job) { job.run(self); },
  };
}

} // namespace

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
