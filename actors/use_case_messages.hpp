// What the front end asks of the load coordinator and what it answers: a load as a typed use
// case (parsed from the wire, nothing resolved yet) and its typed result. Both have inspect
// overloads (they can cross a node); the request's progress callback is a node-local reference
// (local_ref.hpp): a load sent to another node reports its progress through a relay actor
// (use_case_routes.hpp), never through the callback itself.
#pragma once

#include "actors/catalog_messages.hpp"
#include "actors/device_messages.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modeld::actors {

struct load_request {
  std::uint64_t ticket = 0;   // names this request for drop_atom (cancel, timeout, closed connection)
  std::string request_id;     // for log lines
  std::string model_id;
  std::string device_id;      // empty: the ready device with the most free memory
  std::vector<std::string> components;
  gpu::load_dtype dtype = gpu::load_dtype::keep;
  load_policy policy; // its ram_cached is filled in by the coordinator
  gpu::progress_callback progress; // stream: true
};

// A load that loaded (ok), or why not (`error`, with the device and model it concerned).
struct load_result {
  bool ok = false;
  failure error;
  std::string model_id;
  load_done done; // when ok
  // Why placement chose done.device_id, when the request named no device and this node placed
  // it across the nodes it joined; empty otherwise.
  std::string placement_reason;

  bool operator==(const load_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_result& x) {
  return f(caf::meta::type_name("load_result"), x.ok, x.error, x.model_id, x.done, x.placement_reason);
}

// Measures a model on a device (post_model_benchmark), placed as a load is.
struct benchmark_command {
  std::uint64_t ticket = 0; // names this request for drop_atom
  std::string model_id;
  std::string device_id; // empty: the ready device with the most free memory
  bool inference = true; // false: load timings only
  gpu::benchmark_request request;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, benchmark_command& x) {
  return f(caf::meta::type_name("benchmark_command"), x.ticket, x.model_id, x.device_id, x.inference, x.request);
}

// The device's measurement (reply.ok), or why there is none; `model_id` as the catalog has it.
struct benchmark_result {
  std::string model_id;
  benchmark_reply reply;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, benchmark_result& x) {
  return f(caf::meta::type_name("benchmark_result"), x.model_id, x.reply);
}

// Validates a model (post_model_validate): `name` is a model_id, or a path inside the roots.
struct validate_request {
  std::uint64_t ticket = 0; // names this request for drop_atom
  std::string name;
  bool is_path = false;
  formats::validation_level level = formats::validation_level::standard;
  std::shared_ptr<const progress_sink> progress; // null: no progress wanted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, validate_request& x) {
  return f(caf::meta::type_name("validate_request"), x.ticket, x.name, x.is_path, x.level, local(x.progress));
}

// The validation report (its JSON as the workers wrote it), or why there is none.
struct validate_result {
  bool ok = false;
  failure error;
  std::string model_id;
  bool from_cache = false; // a stored result for this exact file state (size and mtime)
  std::string result_json;

  bool operator==(const validate_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, validate_result& x) {
  return f(caf::meta::type_name("validate_result"), x.ok, x.error, x.model_id, x.from_cache, x.result_json);
}

// Unloads `model_id` (empty: every model) from `device_id` (empty: every device, of this node
// and of the nodes it joined); leased models stay unless `force`.
struct unload_request {
  std::string model_id;
  std::string device_id;
  bool force = false;
  bool this_node_only = false; // every device of this node alone (what another node asks of it)

  bool operator==(const unload_request&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unload_request& x) {
  return f(caf::meta::type_name("unload_request"), x.model_id, x.device_id, x.force, x.this_node_only);
}

struct device_unload {
  std::string device_id;
  std::vector<std::string> unloaded;
  std::uint64_t freed_bytes = 0;

  bool operator==(const device_unload&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, device_unload& x) {
  return f(caf::meta::type_name("device_unload"), x.device_id, x.unloaded, x.freed_bytes);
}

// A named model that is leased on some device is not unloaded there: the result is then a
// conflict (error), and `kept` names the holders. `revoked`: the leases a forced unload took.
struct unload_result {
  bool ok = false;
  failure error;
  std::vector<device_unload> devices; // in the order of --devices
  std::vector<model_lease> kept;
  std::vector<model_lease> revoked;

  bool operator==(const unload_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unload_result& x) {
  return f(caf::meta::type_name("unload_result"), x.ok, x.error, x.devices, x.kept, x.revoked);
}

// Gives back a lease, wherever it is held: this node's devices, then (unless this_node_only)
// those of every joined node that answers.
struct release_request {
  std::string lease_id;
  bool this_node_only = false; // what another node asks of this one

  bool operator==(const release_request&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_request& x) {
  return f(caf::meta::type_name("release_request"), x.lease_id, x.this_node_only);
}

struct release_result {
  bool released = false; // false: no device holds it (released already, or its model unloaded)
  std::string device_id;
  std::string model_id;
  failure error; // a node that could not be asked (its devices may still hold the lease)

  bool operator==(const release_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_result& x) {
  return f(caf::meta::type_name("release_result"), x.released, x.device_id, x.model_id, x.error);
}

// The RAM cache commands (get_model_cache, post_model_cache, delete_model_cache) of this node's
// cache or of a joined node's.
struct cache_request {
  std::string node;     // a joined node's name; empty: this node's cache
  std::string model_id; // post: the model to read (required); delete: empty evicts everything

  bool operator==(const cache_request&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_request& x) {
  return f(caf::meta::type_name("cache_request"), x.node, x.model_id);
}

// What the cache holds (get_model_cache).
struct cache_report_result {
  bool ok = false;
  failure error;
  cache_report report;

  bool operator==(const cache_report_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_report_result& x) {
  return f(caf::meta::type_name("cache_report_result"), x.ok, x.error, x.report);
}

// A model read into the cache, or found there (post_model_cache).
struct cache_fill_result {
  bool ok = false;
  failure error;
  std::string model_id;
  std::uint64_t bytes = 0;
  bool from_cache = false;
  bool cached = false;          // the cache keeps it (false: read, but larger than what the cache may hold)
  std::optional<double> disk_to_host_ms; // empty when nothing was read

  bool operator==(const cache_fill_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_fill_result& x) {
  return f(caf::meta::type_name("cache_fill_result"), x.ok, x.error, x.model_id, x.bytes, x.from_cache, x.cached,
           catalog::optional_of(x.disk_to_host_ms));
}

// The models evicted (delete_model_cache).
struct cache_evict_result {
  bool ok = false;
  failure error;
  std::vector<std::string> evicted;

  bool operator==(const cache_evict_result&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_evict_result& x) {
  return f(caf::meta::type_name("cache_evict_result"), x.ok, x.error, x.evicted);
}

// The progress callback travels as a node-local reference (local_ref.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_request& x) {
  return f(caf::meta::type_name("load_request"), x.ticket, x.request_id, x.model_id, x.device_id, x.components,
           x.dtype, x.policy, local(x.progress));
}

} // namespace modeld::actors
