// Values exchanged between actors. Each has an inspect overload, so CAF can copy, print and
// (later) serialize it.
#pragma once

#include "catalog/optional_field.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modeld::actors {

// A device as enumerated at start; fixed for the life of the process.
struct device_info {
  std::string id;
  std::string kind; // "cpu" or "cuda"
  int index = 0;
  std::string name;
  std::uint64_t total_bytes = 0;
  std::uint64_t budget_bytes = 0;

  bool operator==(const device_info&) const = default;
};

// A lease on a loaded model (post_model_load with lease: true): while one is held, the model
// is neither unloaded (except by force) nor evicted nor expired.
struct lease_holder {
  std::string lease_id;
  std::uint64_t connection = 0; // the front end's number of the connection that holds it
  std::string client;           // as that connection's hello named it ("" if it did not)
  std::int64_t acquired_at_ms = 0;

  bool operator==(const lease_holder&) const = default;
};

struct loaded_model {
  std::string model_id;
  std::vector<std::string> components;
  std::string dtype;
  std::uint64_t bytes = 0;
  std::int64_t loaded_at_ms = 0; // Unix epoch milliseconds
  std::int64_t last_used_ms = 0; // a load, a lease taken or released, a load hit, a benchmark
  std::uint64_t uses = 1;        // its load, then each load hit, lease taken and benchmark
  bool pinned = false;           // never evicted
  std::string priority = "normal"; // low, normal, high: eviction takes lower ones first
  std::int64_t keep_alive_ms = -1; // unloaded after this long unused; -1: kept
  std::optional<std::int64_t> expires_at_ms; // when it will be, unless used again or leased
  double reload_ms = 0; // measured: its disk read (unless the RAM cache holds it) and copy
  std::vector<lease_holder> leases;
  std::vector<std::string> shared_components; // its components whose one copy other loaded models use too

  bool operator==(const loaded_model&) const = default;
};

// One copy of a component that several loaded models use.
struct shared_component {
  std::string identity;
  std::string component;
  std::uint64_t bytes = 0;
  std::vector<std::string> models;

  bool operator==(const shared_component&) const = default;
};

// What a device actor says about itself.
struct device_status {
  std::string device_id;
  std::string state; // ready or busy
  std::uint64_t total_bytes = 0;
  std::uint64_t used_bytes = 0;              // tensors held and loading, plus allocator_reserve_bytes
  std::uint64_t free_bytes = 0;
  std::uint64_t budget_bytes = 0;
  std::uint64_t allocator_reserve_bytes = 0; // CUDA caching allocator beyond its live tensors
  std::vector<loaded_model> loaded_models;
  std::uint64_t loads = 0;
  std::uint64_t unloads = 0;
  std::uint64_t evictions = 0;
  std::uint64_t cache_hits = 0;       // loads served from the RAM cache
  std::uint64_t failed_loads = 0;     // loads the device could not do: out of memory, a file it could not load
  std::uint64_t expirations = 0;      // models unloaded after their keep-alive ran out
  double load_time_ms_total = 0;      // sum of measured load times
  std::vector<shared_component> shared_components; // copies used by more than one loaded model
  std::uint64_t logical_bytes = 0;    // the sum of the loaded models' bytes, shared copies counted in each
  std::uint64_t shared_bytes_saved = 0; // logical bytes not held twice: each shared copy's bytes x (users - 1)

  bool operator==(const device_status&) const = default;
};

// One device in an aggregated answer. `answered` is false when the device was restarting,
// failed, or missed its deadline; `state` says which. A device that missed its deadline
// (unresponsive) keeps its last report in `status`, `status_age_ms` old; one that is
// restarting or failed has no memory or models, only its counters. Counters are carried
// across restarts, so they never go backwards.
struct device_report {
  device_info info;
  std::string state; // ready, busy, unresponsive, restarting, failed
  bool answered = false;
  device_status status;
  std::int64_t status_age_ms = 0; // how old `status` is: 0 when answered now
  bool has_last_status = false;   // unresponsive: `status` is the last report
  std::uint32_t restarts = 0;
  std::string last_error;

  bool operator==(const device_report&) const = default;
};

struct cluster_status {
  std::string overall_health; // healthy, degraded, down
  std::vector<device_report> devices;

  bool operator==(const cluster_status&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_info& x) {
  return f(caf::meta::type_name("device_info"), x.id, x.kind, x.index, x.name, x.total_bytes, x.budget_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_holder& x) {
  return f(caf::meta::type_name("lease_holder"), x.lease_id, x.connection, x.client, x.acquired_at_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, loaded_model& x) {
  return f(caf::meta::type_name("loaded_model"), x.model_id, x.components, x.dtype, x.bytes, x.loaded_at_ms,
           x.last_used_ms, x.uses, x.pinned, x.priority, x.keep_alive_ms, catalog::optional_of(x.expires_at_ms), x.reload_ms,
           x.leases, x.shared_components);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_component& x) {
  return f(caf::meta::type_name("shared_component"), x.identity, x.component, x.bytes, x.models);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_status& x) {
  return f(caf::meta::type_name("device_status"), x.device_id, x.state, x.total_bytes, x.used_bytes, x.free_bytes,
           x.budget_bytes, x.allocator_reserve_bytes, x.loaded_models, x.loads, x.unloads, x.evictions, x.cache_hits, x.failed_loads,
           x.expirations, x.load_time_ms_total, x.shared_components, x.logical_bytes, x.shared_bytes_saved);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_report& x) {
  return f(caf::meta::type_name("device_report"), x.info, x.state, x.answered, x.status, x.status_age_ms,
           x.has_last_status, x.restarts, x.last_error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("cluster_status"), x.overall_health, x.devices);
}

// A fault to inject into an actor (inject_fault, only with --enable-fault-injection).
struct fault_request {
  std::string mode; // crash, hang, slow
  std::uint32_t duration_ms = 0;

  bool operator==(const fault_request&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fault_request& x) {
  return f(caf::meta::type_name("fault_request"), x.mode, x.duration_ms);
}

// healthy: every device answered; down: none did (or there are none); else degraded.
std::string overall_health(const std::vector<device_report>& devices);

// Adds `from`'s counters (loads, unloads, evictions, cache hits, load time) to `into`'s.
void add_counters(device_status& into, const device_status& from);
// The counters alone, the rest empty.
device_status counters_of(const device_status& status);

} // namespace modeld::actors
