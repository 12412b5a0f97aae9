// Values exchanged with the RAM cache and the device actors for loads, unloads and
// benchmarks. Every one has an inspect overload (every field), so it can be serialized and
// cross a node; host buffers, open files, reports and callbacks in them are written as
// node-local references (local_ref.hpp), which resolve only in the process that sent them.
#pragma once

#include "actors/messages.hpp"
#include "catalog/discovery.hpp"
#include "catalog/errc.hpp"
#include "actors/local_ref.hpp"
#include "catalog/optional_field.hpp"

#include "formats/component_identity.hpp"
#include "formats/confined_open.hpp"
#include "formats/model_report.hpp"
#include "gpu/model_loader.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <atomic>
#include <map>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::gpu {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, benchmark_measurement& x) {
  return f(caf::meta::type_name("benchmark_measurement"), x.kind, x.run_ms, x.median_ms, x.p95_ms,
           x.throughput_per_s, catalog::optional_of(x.achieved_gflops), catalog::optional_of(x.baseline_gflops),
           x.peak_memory_bytes, x.input_shape, x.iterations);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_facts& x) {
  return f(caf::meta::type_name("device_facts"), x.torch_version, x.threads, x.device_name, x.memory_total,
           x.memory_used);
}

} // namespace modeld::gpu

namespace modeld::actors {

// A model file held in host RAM with the tensor table read from it: what devices load from.
struct cached_model {
  std::string model_id;
  std::string path;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
  std::shared_ptr<const gpu::host_buffer> buffer;
  std::shared_ptr<const formats::model_report> report; // standard level
  // The file opened inside the roots, for work that reads it (a miss, a direct load, a
  // benchmark); null in the cache's own entries, which hold no descriptors.
  std::shared_ptr<const formats::unique_fd> file;
  // The identity of each shareable component, as the catalog keeps it or a device computed it;
  // empty: not known yet. Devices and the RAM cache keep one copy per identity.
  std::vector<formats::component_identity> identities;
};

// The figures behind an INSUFFICIENT_MEMORY, for clients that decide what to unload.
struct memory_shortfall {
  std::string memory;             // "device", or "host" for a read into host RAM
  std::uint64_t needed_bytes = 0; // what the work needs
  std::uint64_t free_bytes = 0;   // what is free now
  std::uint64_t budget_bytes = 0; // the device's budget; the host's available memory

  bool operator==(const memory_shortfall&) const = default;
};

// Why a load, read or benchmark did not happen: its code (the front end maps it to the wire
// code), a message for people, for insufficient_memory the figures, and what it concerned
// (`context`: "device_id", "model_id", "path"; the front end shows them as the error's details).
struct failure {
  failure() = default;
  failure(errc code, std::string message, std::optional<memory_shortfall> memory = std::nullopt)
    : code(code), message(std::move(message)), memory(std::move(memory)) {}

  errc code = errc::internal;
  std::string message;
  std::optional<memory_shortfall> memory; // set with every INSUFFICIENT_MEMORY
  std::map<std::string, std::string> context;

  // The same failure, also naming `key` (the device or model it concerned).
  failure&& about(std::string key, std::string value) && {
    context[std::move(key)] = std::move(value);
    return std::move(*this);
  }

  bool operator==(const failure&) const = default;
};

// An actor's error answer to a request made for `what` ("reading the model"): a typed modeld
// error keeps its code; any other (a crashed or restarting actor, CAF's own) is internal.
failure failure_of(const caf::error& error, std::string_view what);

// A model the scanner could not locate: MODEL_NOT_FOUND or PATH_NOT_ALLOWED, with the path.
failure located_failure(const catalog::scan_error& error);

inline failure out_of_memory(std::string message, memory_shortfall figures) {
  return {errc::insufficient_memory, std::move(message), std::move(figures)};
}

struct cache_fetch {
  bool ok = false;
  failure error;
  cached_model model;
  bool from_cache = false;
  // Time until the bytes were in host memory: a read, or waiting for one (a fill joined);
  // empty when nothing was read (an entry of the cache, or a miss that inspected the file only).
  std::optional<double> disk_to_host_ms;
};

struct cache_entry_info {
  std::string model_id;
  std::uint64_t bytes = 0;
  bool pinned = false;
  bool in_use = false; // a device load still reads it
  std::int64_t cached_at_ms = 0;
  std::int64_t last_used_ms = 0;

  bool operator==(const cache_entry_info&) const = default;
};

struct cache_report {
  std::uint64_t budget_bytes = 0;
  std::uint64_t used_bytes = 0;          // held: each component block once
  std::vector<cache_entry_info> entries; // most recently used first
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t logical_bytes = 0;                 // the entries' files, whole
  std::uint64_t shared_bytes_saved = 0;            // logical less used
  std::vector<shared_component> shared_components; // component blocks more than one entry uses

  bool operator==(const cache_report&) const = default;
};

// How a loaded model is kept and how room is made for it: post_model_load's lease,
// keep_alive_ms, pinned, priority and evict, with the server's defaults
// (--default-keep-alive-ms, --auto-evict, --eviction-policy).
struct load_policy {
  std::optional<lease_holder> lease;         // lease: true; the id is the front end's
  std::optional<std::int64_t> keep_alive_ms; // -1: kept; none: as it was, or the default for a new load
  std::int64_t default_keep_alive_ms = -1;
  std::optional<bool> pinned;                // none: as it was, or not pinned
  std::optional<std::string> priority;       // low, normal, high; none: as it was, or normal
  bool evict = false;
  std::string eviction_rule = "cost";        // cost or lru (gpu/eviction_policy.hpp)
  std::vector<std::string> ram_cached;       // the models the RAM cache holds: cheap to bring back
  bool share_components = true;              // --share-components: one copy per component identity

  bool operator==(const load_policy&) const = default;
};

struct load_order {
  std::uint64_t ticket = 0; // names this request for drop_atom
  cached_model model;
  bool from_cache = false;
  std::optional<double> disk_to_host_ms; // as the fetch measured it
  std::vector<std::string> components;
  gpu::load_dtype dtype = gpu::load_dtype::keep;
  load_policy policy;
  gpu::progress_callback progress; // stream: true (a load shared by several requests reports to the first)
};

// A model a load evicted, and the figures the rule weighed.
struct eviction_note {
  std::string model_id;
  std::uint64_t bytes = 0;
  std::int64_t idle_ms = 0;
  std::uint64_t uses = 1;
  double reload_ms = 0;        // measured (see loaded_model::reload_ms)
  double expected_cost_ms = 0; // reload_ms x uses / (1 + idle seconds); 0 under lru
  std::string priority;

  bool operator==(const eviction_note&) const = default;
};

// What a load that loaded did and measured: the device's answer and the coordinator's.
struct load_done {
  std::string device_id;
  std::uint64_t memory_used_bytes = 0;
  double load_time_ms = 0;
  std::optional<double> disk_to_host_ms; // empty when nothing was read into host memory
  double host_to_device_ms = 0;          // read_directly: from the file into the device
  bool from_cache = false;
  // A cache miss: read from the file straight into the device (a CPU device, types kept), or
  // into load_reply::read, a host buffer the cache can keep.
  bool read_directly = false;
  std::vector<std::string> evicted;
  std::vector<eviction_note> evictions; // the same models, with why
  std::string eviction_rule;            // the rule that chose them (when any)
  std::vector<std::string> components;
  std::string dtype;
  std::string lease_id;        // lease: true
  bool already_loaded = false; // lease: true on a model the device held already: nothing loaded
  // Components the device held already as a copy another model loaded: not loaded again.
  std::vector<std::string> shared_components;
  std::uint64_t shared_bytes = 0; // their bytes (in memory_used_bytes, not added to the device's used)
  // The identities the device computed for this load (the catalog did not know them yet).
  std::vector<formats::component_identity> identities;

  bool operator==(const load_done&) const = default;
};

struct load_reply {
  bool ok = false;
  failure error;
  load_done done; // when ok
  // True in the answer of exactly one request per load that succeeded (the first of those
  // sharing it): that request reports the load to the cache, which counts it as a hit or a
  // miss (the device counts its cache_hits for the same load).
  bool counts = false;
  std::shared_ptr<const gpu::host_buffer> read; // a miss read into host memory: for the cache
};

// A lease on one model: why an unload kept it, or what a forced unload took away.
struct model_lease {
  std::string device_id;
  std::string model_id;
  lease_holder holder;

  bool operator==(const model_lease&) const = default;
};

// Unloads one model (its id) or every model (""); leased models stay unless `force`.
struct unload_order {
  std::string model_id;
  bool force = false;

  bool operator==(const unload_order&) const = default;
};

struct unload_reply {
  std::vector<std::string> unloaded;
  std::uint64_t freed_bytes = 0;
  std::vector<model_lease> kept;    // leased, so not unloaded
  std::vector<model_lease> revoked; // force: leases taken away from their holders

  bool operator==(const unload_reply&) const = default;
};

// A lease given back (release, or its connection closed).
struct release_reply {
  bool released = false; // false: this device holds no such lease
  std::string model_id;

  bool operator==(const release_reply&) const = default;
};

// A measured benchmark on one device: a fresh read of the file, a load into the device's
// memory (within its budget), then inference runs; everything freed afterwards.
struct benchmark_order {
  std::uint64_t ticket = 0;
  std::string model_id;
  std::string path;
  std::shared_ptr<const formats::unique_fd> file; // opened inside the roots; read through this
  bool inference = true; // false: load timings only
  gpu::benchmark_request request;
  std::shared_ptr<const formats::model_report> report; // standard level
  std::shared_ptr<std::atomic<bool>> cancel;           // set by the device; keeps request.cancel alive
};

struct benchmark_reply {
  bool ok = false;
  failure error;
  std::string device_id;
  double disk_to_host_ms = 0;
  double host_to_device_ms = 0;
  std::uint64_t loaded_bytes = 0;
  bool inference_ran = false;
  gpu::benchmark_measurement measurement;
  gpu::device_facts facts; // torch version and threads
  // system_info: the device as its actor accounts for it (as get_device_status reports it),
  // not the host. memory_used is taken at the end of the run, its own reservation included.
  std::string device_name; // "cpu:0 (virtual CPU device)", or the CUDA device's name
  std::uint64_t memory_total = 0;
  std::uint64_t memory_budget = 0;
  std::uint64_t memory_used = 0;

  bool operator==(const benchmark_reply&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, memory_shortfall& x) {
  return f(caf::meta::type_name("memory_shortfall"), x.memory, x.needed_bytes, x.free_bytes, x.budget_bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure& x) {
  return f(caf::meta::type_name("failure"), x.code, x.message, catalog::optional_of(x.memory), x.context);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_entry_info& x) {
  return f(caf::meta::type_name("cache_entry_info"), x.model_id, x.bytes, x.pinned, x.in_use, x.cached_at_ms, x.last_used_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_report& x) {
  return f(caf::meta::type_name("cache_report"), x.budget_bytes, x.used_bytes, x.entries, x.hits, x.misses, x.evictions,
           x.bytes_read, x.logical_bytes, x.shared_bytes_saved, x.shared_components);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, benchmark_reply& x) {
  return f(caf::meta::type_name("benchmark_reply"), x.ok, x.error, x.device_id, x.disk_to_host_ms,
           x.host_to_device_ms, x.loaded_bytes, x.inference_ran, x.measurement, x.facts, x.device_name,
           x.memory_total, x.memory_budget, x.memory_used);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_lease& x) {
  return f(caf::meta::type_name("model_lease"), x.device_id, x.model_id, x.holder);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unload_order& x) {
  return f(caf::meta::type_name("unload_order"), x.model_id, x.force);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unload_reply& x) {
  return f(caf::meta::type_name("unload_reply"), x.unloaded, x.freed_bytes, x.kept, x.revoked);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_reply& x) {
  return f(caf::meta::type_name("release_reply"), x.released, x.model_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_policy& x) {
  return f(caf::meta::type_name("load_policy"), catalog::optional_of(x.lease), catalog::optional_of(x.keep_alive_ms),
           x.default_keep_alive_ms, catalog::optional_of(x.pinned), catalog::optional_of(x.priority), x.evict,
           x.eviction_rule, x.ram_cached, x.share_components);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, eviction_note& x) {
  return f(caf::meta::type_name("eviction_note"), x.model_id, x.bytes, x.idle_ms, x.uses, x.reload_ms,
           x.expected_cost_ms, x.priority);
}

// Host buffers, open files, parsed reports, cancel flags and callbacks travel as node-local
// references (local_ref.hpp): they resolve only in the process that sent them.

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cached_model& x) {
  return f(caf::meta::type_name("cached_model"), x.model_id, x.path, x.size_bytes, x.mtime_ns, local(x.buffer),
           local(x.report), local(x.file), x.identities);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_fetch& x) {
  return f(caf::meta::type_name("cache_fetch"), x.ok, x.error, x.model, x.from_cache,
           catalog::optional_of(x.disk_to_host_ms));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_order& x) {
  return f(caf::meta::type_name("load_order"), x.ticket, x.model, x.from_cache, catalog::optional_of(x.disk_to_host_ms),
           x.components, x.dtype, x.policy, local(x.progress));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_done& x) {
  return f(caf::meta::type_name("load_done"), x.device_id, x.memory_used_bytes, x.load_time_ms,
           catalog::optional_of(x.disk_to_host_ms), x.host_to_device_ms, x.from_cache, x.read_directly, x.evicted,
           x.evictions, x.eviction_rule, x.components, x.dtype, x.lease_id, x.already_loaded, x.shared_components,
           x.shared_bytes, x.identities);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_reply& x) {
  return f(caf::meta::type_name("load_reply"), x.ok, x.error, x.done, x.counts, local(x.read));
}

} // namespace modeld::actors

namespace modeld::gpu {

// The cancel flag is not part of it: the device sets it to the order's own flag.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, benchmark_request& x) {
  return f(caf::meta::type_name("benchmark_request"), x.warmup, x.iterations, x.input_shape, x.batch,
           actors::local(x.progress));
}

} // namespace modeld::gpu

namespace modeld::actors {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, benchmark_order& x) {
  return f(caf::meta::type_name("benchmark_order"), x.ticket, x.model_id, x.path, local(x.file), x.inference,
           x.request, local(x.report), local(x.cancel));
}

} // namespace modeld::actors
