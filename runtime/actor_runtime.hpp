// The actor side of modeld: the actor system, the device registry, the supervisor with its
// device actors, the service supervisor with the metadata store, RAM
// cache and validation actors, the scanner, and the gateway the TCP front end talks through.
// Built in dependency order; stopped in reverse order.
#pragma once

#include "actors/actors.hpp"
#include "actors/bridge.hpp"
#include "actors/cache.hpp"
#include "actors/catalog_board.hpp"
#include "actors/registry.hpp"
#include "actors/service_registry.hpp"
#include "actors/worker_pool.hpp"
#include "actors/node.hpp"
#include "runtime/node_options.hpp"
#include "catalog/model_store.hpp"
#include "gpu/devices.hpp"
#include "gpu/eviction_policy.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace modeld::runtime {

struct runtime_settings {
  std::vector<gpu::device_description> devices;
  std::vector<std::string> model_roots; // canonical
  std::shared_ptr<catalog::model_store> store;
  unsigned scheduler_threads = 1;
  std::size_t validation_workers = 2;
  std::uint64_t cache_bytes = 4ull << 30;
  std::chrono::milliseconds status_deadline{250};
  actors::pool_sizes pools;
  gpu::eviction_rule cache_eviction = gpu::eviction_rule::cost; // --eviction-policy, for the RAM cache
  node_options node; // --node-listen publishes this node's devices; --join shows other nodes'
};

class actor_runtime {
public:
  // Starts every actor; throws std::runtime_error when the devices do not come up.
  explicit actor_runtime(runtime_settings settings);
  ~actor_runtime();

  actors::actor_bridge& bridge() { return *bridge_; }
  std::shared_ptr<const actors::device_registry> registry() const { return registry_; }
  std::shared_ptr<const actors::service_registry> services() const { return services_; }
  actors::scanner_actor scanner() const { return scanner_; }
  actors::use_case_actor use_cases() const { return use_cases_; }
  std::shared_ptr<const actors::cache_board> cache_board() const { return cache_board_; }
  std::shared_ptr<const actors::catalog_board> catalog_board() const { return catalog_board_; }
  const actors::worker_pools::gauges& pool_gauges() const { return pools_.gauge; }

  // The port other nodes join this one on (--node-listen), once published; none without.
  std::optional<std::uint16_t> node_port() const { return node_port_; }

  // Scans every model root and waits for the catalog to be written.
  actors::scan_summary initial_scan();

  // Stops the front-facing actors, then every device (in reverse order) through the
  // supervisor, then the services (validation, cache, the store last), waiting at most
  // `grace` for each supervisor. False if something did not stop in time.
  bool stop(std::chrono::milliseconds grace);

private:
  void wait_until_started(const actors::supervisor_actor& supervisor, const char* what);
  // Joins the nodes of --join and publishes this node at --node-listen; throws when it cannot listen.
  void start_node(const node_options& node);

  caf::actor_system_config config_;
  std::unique_ptr<caf::actor_system> system_;
  std::shared_ptr<actors::device_registry> registry_;
  actors::worker_pools pools_;
  actors::supervisor_actor supervisor_;
  std::shared_ptr<actors::service_registry> services_ = std::make_shared<actors::service_registry>();
  actors::supervisor_actor service_supervisor_;
  actors::scanner_actor scanner_;
  actors::use_case_actor use_cases_;
  std::shared_ptr<actors::cache_board> cache_board_ = std::make_shared<actors::cache_board>();
  std::shared_ptr<actors::catalog_board> catalog_board_ = std::make_shared<actors::catalog_board>();
  std::unique_ptr<actors::actor_bridge> bridge_;
  std::vector<caf::actor> peers_;  // one per --join
  actors::node_actor node_;        // published at --node-listen
  std::optional<std::uint16_t> node_port_;
  bool stopped_ = false;
};

} // namespace modeld::runtime
