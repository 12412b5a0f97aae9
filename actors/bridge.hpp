// The gateway between the Asio front end and the actors. Code outside the actor system
// cannot `request` anything, so it hands a job to a standing gateway actor that runs it in
// actor context (no actor is spawned per request). Replies come back through callbacks the
// job installs; they must post to their caller's executor and never block.
#pragma once

#include "actors/local_ref.hpp"
#include "actors/request_watches.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace modeld::actors {

// What a gateway watches: the actors its requests went to (request_watches.hpp).
struct gateway_state {
  static inline const char* name = "gateway";
  request_watches watches;
};

using gateway_actor = caf::stateful_actor<gateway_state>;

struct gateway_job {
  std::function<void(gateway_actor*)> run;
};

// The closure travels as a node-local reference (local_ref.hpp): gateways serve their own node.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_job& x) {
  return f(caf::meta::type_name("gateway_job"), local(x.run));
}

class actor_bridge {
public:
  // `gateways` standing actors share the jobs round-robin.
  actor_bridge(caf::actor_system& system, std::size_t gateways);
  ~actor_bridge();
  actor_bridge(const actor_bridge&) = delete;
  actor_bridge& operator=(const actor_bridge&) = delete;

  void dispatch(std::function<void(gateway_actor*)> job);

private:
  std::vector<caf::actor> gateways_;
  std::atomic<std::size_t> next_{0};
};

} // namespace modeld::actors
