// The stable handles of the supervised services: the metadata store, the RAM cache and the
// validation coordinator. The service supervisor replaces one when it restarts; everyone else
// (the protocol, the scanner) looks it up here at each use, so no one holds a dead handle.
#pragma once

#include "actors/actors.hpp"
#include "actors/registry.hpp"

#include <caf/actor_cast.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace modeld::actors {

enum class service { metadata_store, cache, validation };

inline constexpr std::array<service, 3> all_services{service::metadata_store, service::cache, service::validation};

// "metadata_store", "cache", "validation": the inject_fault target names.
std::string_view to_string(service which);
std::optional<service> service_named(std::string_view name);

struct service_entry {
  service which = service::metadata_store;
  caf::strong_actor_ptr handle; // null while restarting or failed
  device_health health = device_health::restarting;
  std::uint32_t restarts = 0;
  std::string last_error;
};

class service_registry {
public:
  service_registry();

  using entries = std::array<service_entry, all_services.size()>;

  // Copy-on-write, as device_registry: a snapshot never changes.
  std::shared_ptr<const entries> snapshot() const;
  service_entry find(service which) const;

  // Current handles; invalid while the service is restarting or failed.
  metadata_store_actor store() const { return handle_of<metadata_store_actor>(service::metadata_store); }
  cache_actor cache() const { return handle_of<cache_actor>(service::cache); }
  validation_actor validation() const { return handle_of<validation_actor>(service::validation); }

  void set_running(service which, caf::strong_actor_ptr handle, std::uint32_t restarts);
  void set_restarting(service which, std::string reason);
  void set_failed(service which, std::string reason);

private:
  template <class Handle>
  Handle handle_of(service which) const {
    return caf::actor_cast<Handle>(find(which).handle);
  }
  template <class Change>
  void update(service which, Change&& change);

  mutable std::shared_mutex mutex_;
  std::shared_ptr<const entries> entries_;
};

} // namespace modeld::actors
