// The actor side of modeld: the actor system, the device registry, the supervisor with its
// device actors, the status aggregator and the gateway the TCP front end talks through.
// Built in dependency order; stopped in reverse order.
#pragma once

#include "actors/actors.hpp"
#include "actors/bridge.hpp"
#include "actors/registry.hpp"
#include "gpu/devices.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace modeld::runtime {

class actor_runtime {
public:
  actor_runtime(const std::vector<gpu::device_description>& devices, unsigned scheduler_threads,
                std::chrono::milliseconds status_deadline);
  ~actor_runtime();

  actors::actor_bridge& bridge() { return *bridge_; }
  std::shared_ptr<const actors::device_registry> registry() const { return registry_; }
  actors::status_aggregator_actor aggregator() const { return aggregator_; }

  // Stops the aggregator, then every device (in reverse order) through the supervisor,
  // waiting at most `grace`. Returns false if something did not stop in time.
  bool stop(std::chrono::milliseconds grace);

private:
  void wait_until_devices_started();

  caf::actor_system_config config_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<actors::device_registry> registry_;
  actors::supervisor_actor supervisor_;
  actors::status_aggregator_actor aggregator_;
  std::unique_ptr<actors::actor_bridge> bridge_;
  bool stopped_ = false;
};

} // namespace modeld::runtime
