#include "actors/device_loads.hpp"
#include "actors/cache.hpp"
#include "actors/epoch.hpp"
#include "actors/log.hpp"
#include "gpu/eviction_policy.hpp"
#include "gpu/load_plan.hpp"

#include <caf/sec.hpp>

#include <algorithm>
#include <cstring>

namespace modeld::actors {
namespace {

// One piece of a load: a shared component's copy (`key`: its copy_key) or the model's own
// tensors (no key), with the components it takes (empty: every tensor).
struct part_job {
  std::string key;
  std::string identity;
  std::vector<std::string> components;
  std::uint64_t bytes = 0; // planned on the device (planned_bytes_of)
};

struct load_job {
  std::string model_id;
  std::string path;
  std::shared_ptr<const formats::unique_fd> file; // opened inside the roots
  std::shared_ptr<const formats::model_report> report;
  std::shared_ptr<const gpu::host_buffer> buffer; // null: read the file straight into the device
  gpu::load_request request;                      // request.components: every part's together
  std::vector<part_job> parts;                    // none: the device holds every component already
  std::uint64_t device_bytes = 0;                 // what the load takes on the device (planned)
  std::shared_ptr<std::atomic<bool>> cancel; // keeps request.cancel alive
};

struct loaded_part {
  std::string key; // empty: the model's own tensors
  std::string identity;
  std::string component;
  std::shared_ptr<gpu::loaded_weights> weights;
};

struct load_outcome {
  bool ok = false;
  errc error_code = errc::internal;
  std::string error;
  std::vector<loaded_part> parts;
  double host_to_device_ms = 0;
  std::optional<double> disk_to_host_ms;          // when the worker read the file into host memory
  std::shared_ptr<const gpu::host_buffer> read;   // that buffer, for the cache
  bool read_directly = false;
};

// The work of identifying a model's components on a loads worker.
struct identify_outcome {
  std::vector<formats::component_identity> identities;
  std::string error; // empty: identified
};

// The weights and the buffer travel as node-local references (local_ref.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, loaded_part& x) {
  return f(caf::meta::type_name("loaded_part"), x.key, x.identity, x.component, local(x.weights));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_outcome& x) {
  return f(caf::meta::type_name("load_outcome"), x.ok, x.error_code, x.error, x.parts, x.host_to_device_ms,
           catalog::optional_of(x.disk_to_host_ms), local(x.read), x.read_directly);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, identify_outcome& x) {
  return f(caf::meta::type_name("identify_outcome"), x.identities, x.error);
}

} // namespace
} // namespace modeld::actors

namespace modeld::actors {
namespace {

std::variant<gpu::load_success, gpu::load_error> load_from_file(const load_job& job, const gpu::load_request& request) {
  auto reader = reader_of(job.path, job.file);
  if (auto* refusal = std::get_if<failure>(&reader))
    return gpu::load_error{refusal->message};
  return gpu::load_weights_from_file(*job.report, std::get<gpu::file_reader>(reader), request);
}

// Runs `work` (returning an Outcome) on the device's loads pool, then `done` with its outcome
// on the actor; a pool that fails the job gives an outcome with only its error.
template <class Outcome, class Work, class Done>
void on_loads_pool(device_pointer self, Work work, Done done) {
  blocking_job job{[work = std::move(work)]() mutable { return caf::make_message(work()); }};
  self->request(self->state.pools.loads, caf::infinite, run_atom::value, std::move(job))
    .then([done](Outcome& outcome) { done(outcome); },
          [self, done](caf::error& error) {
            Outcome outcome;
            outcome.error = self->system().render(error);
            done(outcome);
          });
}

// The progress of one part of several, as progress of the whole load.
gpu::progress_callback part_progress(const gpu::progress_callback& whole, std::uint64_t before, std::uint64_t total) {
  if (!whole)
    return {};
  return [whole, before, total](std::uint64_t done, std::uint64_t, const std::string& stage) {
    whole(before + done, total, stage);
  };
}

// Copies each part of `job` from `buffer` (or the file) into the device.
void load_parts(const load_job& job, const gpu::host_buffer* buffer, load_outcome& outcome) {
  std::uint64_t before = 0;
  for (auto& part : job.parts) {
    auto request = job.request;
    request.components = part.components;
    if (job.parts.size() > 1)
      request.progress = part_progress(job.request.progress, before, job.device_bytes);
    before += part.bytes;
    auto loaded = buffer ? gpu::load_weights(*job.report, *buffer, request) : load_from_file(job, request);
    if (auto* error = std::get_if<gpu::load_error>(&loaded)) {
      outcome.error = error->message;
      if (error->out_of_memory)
        outcome.error_code = errc::insufficient_memory;
      outcome.parts.clear(); // what loaded so far is freed with the outcome
      return;
    }
    auto& success = std::get<gpu::load_success>(loaded);
    // A shared copy is one component; the model's own part keeps no name.
    outcome.parts.push_back({part.key, part.identity, part.key.empty() ? "" : part.components.front(), success.weights});
    outcome.host_to_device_ms += success.timing.host_to_device_ms;
  }
  outcome.ok = true;
}

// One load, on a worker of the loads pool. The job is taken by value, so the cache's buffer is
// released when this returns, before the device hears the outcome (the cache shows the entry
// in use until then).
load_outcome run_load(load_job job) {
  load_outcome outcome;
  if (job.parts.empty()) { // every component is on the device already: nothing to read
    outcome.ok = true;
    return outcome;
  }
  auto buffer = std::move(job.buffer);
  if (!buffer) { // a cache miss: the file is read here
    outcome.read_directly = gpu::loads_from_file(*job.report, job.request);
    // Straight into a CPU device: host memory for the tensors (maybe a few components);
    // else read_bytes asks for room for the whole file.
    if (outcome.read_directly)
      if (auto refusal = host_room_for_bytes(job.model_id, job.device_bytes)) {
        outcome.error_code = refusal->code;
        outcome.error = refusal->message;
        return outcome;
      }
    if (!outcome.read_directly) {
      cached_model model;
      model.model_id = job.model_id;
      model.path = job.path;
      model.report = job.report;
      model.file = job.file;
      auto fetched = read_bytes(model, job.request.progress);
      if (!fetched.ok) {
        outcome.error_code = fetched.error.code;
        outcome.error = fetched.error.message;
        return outcome;
      }
      buffer = outcome.read = fetched.model.buffer;
      outcome.disk_to_host_ms = fetched.disk_to_host_ms;
    }
  }
  load_parts(job, buffer.get(), outcome);
  return outcome;
}

// The identities of the components of `model`, from its bytes in host memory or its file.
identify_outcome run_identify(const cached_model& model, const std::atomic<bool>* cancel) {
  identify_outcome outcome;
  std::variant<std::vector<formats::component_identity>, std::string> found;
  if (auto buffer = model.buffer) {
    auto read = [&](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) -> std::optional<std::string> {
      const auto* from = buffer->bytes_at(offset, bytes);
      if (from == nullptr)
        return gpu::not_in_host_memory(offset, bytes);
      std::memcpy(to, from, bytes);
      return std::nullopt;
    };
    found = formats::identify_components(*model.report, read, cancel);
  } else {
    auto reader = reader_of(model.path, model.file);
    if (auto* refusal = std::get_if<failure>(&reader)) {
      outcome.error = refusal->message;
      return outcome;
    }
    auto& file = std::get<gpu::file_reader>(reader);
    auto read = [&](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) { return file.read_exactly(to, offset, bytes); };
    found = formats::identify_components(*model.report, read, cancel);
  }
  if (auto* why = std::get_if<std::string>(&found))
    outcome.error = *why;
  else
    outcome.identities = std::move(std::get<std::vector<formats::component_identity>>(found));
  return outcome;
}

// The components an order loads: those it names, or every component of the model.
std::vector<std::string> ordered_components(const load_order& order) {
  if (!order.components.empty())
    return order.components;
  std::vector<std::string> names;
  for (auto& c : order.model.report->components)
    names.push_back(c.name);
  return names;
}

// A load joins one in progress only when it asks for the same copy: the same dtype and the
// same components (in any order).
bool same_load(const load_order& a, const load_order& b) {
  auto sorted = [](std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
  };
  return a.dtype == b.dtype && sorted(a.components) == sorted(b.components);
}

std::string describe(const load_order& order) {
  std::string out{gpu::to_string(order.dtype)};
  if (order.components.empty())
    return out + ", every component";
  out += ", components";
  for (auto& c : order.components)
    out += " " + c;
  return out;
}

load_reply failed(failure why) {
  load_reply reply;
  reply.error = std::move(why);
  return reply;
}

load_reply failed(errc code, std::string message) { return failed(failure{code, std::move(message)}); }

// A load the device could not do (out of memory, an unreadable or unconvertible file), as
// opposed to one refused as a bad or duplicate request or cancelled: counted in failed_loads.
load_reply failed_on_device(device_state& state, failure why) {
  ++state.failed_loads;
  return failed(std::move(why));
}

// `model_id` no longer uses the copy `key`: the copy is freed when no one else does. Its
// freed bytes, if it was.
std::uint64_t leave_copy(device_state& state, const std::string& key, const std::string& model_id) {
  auto copy = state.copies.find(key);
  if (copy == state.copies.end())
    return 0;
  copy->second.users.erase(model_id);
  if (!copy->second.users.empty())
    return 0;
  auto bytes = copy->second.bytes;
  state.memory.release(bytes);
  free_later(state.pools, std::move(copy->second.weights)); // the last reference: freed on the frees pool
  state.copies.erase(copy);
  return bytes;
}

void release(device_state& state, const std::string& model_id, unload_reply& reply) {
  auto it = state.resident.find(model_id);
  if (it == state.resident.end())
    return;
  auto& model = it->second;
  state.memory.release(model.own_bytes);
  reply.freed_bytes += model.own_bytes;
  for (auto& key : model.copies)
    reply.freed_bytes += leave_copy(state, key, model_id);
  reply.unloaded.push_back(model_id);
  free_later(state.pools, std::move(model.weights)); // the last reference: freed on the frees pool
  state.resident.erase(it);
  ++state.unloads;
}

// The first waiter's answer of a load that succeeded `counts` (load_reply::counts); each
// waiter that asked for a lease hears its own.
void deliver_all(pending_load& load, load_reply reply) {
  reply.counts = reply.ok;
  for (auto& waiter : load.waiters) {
    reply.done.lease_id = reply.ok && waiter.lease ? waiter.lease->lease_id : "";
    waiter.promise.deliver(reply);
    reply.counts = false;
  }
  load.waiters.clear();
}

// What the order says of keeping the model: on a new load, unset rules take their defaults;
// on a model held already, only the rules the order sets change.
void keep_as_ordered(resident_model& model, const load_policy& policy, bool new_load) {
  if (policy.keep_alive_ms)
    model.info.keep_alive_ms = *policy.keep_alive_ms;
  else if (new_load)
    model.info.keep_alive_ms = policy.default_keep_alive_ms;
  if (policy.pinned)
    model.info.pinned = *policy.pinned;
  if (policy.priority)
    model.info.priority = *policy.priority;
}

void grant(resident_model& model, lease_holder holder) {
  holder.acquired_at_ms = epoch_ms();
  model.info.last_used_ms = holder.acquired_at_ms;
  ++model.info.uses;
  model.info.leases.push_back(std::move(holder));
}

std::vector<gpu::eviction_candidate> eviction_candidates(const device_state& state, const load_policy& policy) {
  auto now = epoch_ms();
  std::vector<gpu::eviction_candidate> candidates;
  for (auto& [id, model] : state.resident) {
    gpu::eviction_candidate c;
    c.model_id = id;
    c.bytes = exclusive_bytes(state, id, model); // what evicting it gives back
    c.idle_ms = now - model.info.last_used_ms;
    c.uses = model.info.uses;
    c.reload_ms = reload_ms(model, std::find(policy.ram_cached.begin(), policy.ram_cached.end(), id) != policy.ram_cached.end());
    c.priority = gpu::priority_named(model.info.priority).value_or(gpu::model_priority::normal);
    c.pinned = model.info.pinned;
    c.leased = !model.info.leases.empty();
    c.in_use = model.weights.use_count() > 1; // something else still holds its weights (a benchmark)
    candidates.push_back(std::move(c));
  }
  return candidates;
}

eviction_note note_of(const gpu::eviction_choice& choice, gpu::eviction_rule rule) {
  return {choice.model_id,  choice.bytes, choice.idle_ms, choice.uses, choice.reload_ms,
          rule == gpu::eviction_rule::cost ? choice.expected_cost_ms : 0, std::string{gpu::to_string(choice.priority)}};
}

void settle_load(device_pointer self, const std::string& model_id, load_outcome& outcome);

void finish_load(device_pointer self, const std::string& model_id, load_outcome& outcome) {
  settle_load(self, model_id, outcome);
  publish_status(self);
}

// Why a load in progress stops now, if it does: it was unloaded or cancelled meanwhile.
std::optional<load_reply> stopped(const pending_load& load, const std::string& model_id) {
  if (load.unload_requested)
    return failed(errc::cancelled, "'" + model_id + "' was unloaded while it loaded");
  if (load.cancel->load())
    return failed(errc::cancelled, "the load of '" + model_id + "' was cancelled");
  return std::nullopt;
}

// A load that will not finish gives back the copies it was to share and frees what it loaded.
void abandon(device_state& state, const std::string& model_id, const pending_load& load, load_outcome& outcome) {
  for (auto& key : load.reused)
    leave_copy(state, key, model_id);
  for (auto& part : outcome.parts)
    free_later(state.pools, std::move(part.weights));
}

// The dtype of a model loaded in parts: the floating type when its parts have one, "mixed"
// when they have several (as gpu::dominant_dtype over its tensors).
std::string dtype_of_parts(const std::vector<std::pair<std::string, std::uint64_t>>& parts) {
  std::vector<gpu::dtype_share> shares;
  for (auto& [label, bytes] : parts)
    shares.push_back({label, bytes, label == "mixed" || label.starts_with("fp") || label.starts_with("bf")});
  return gpu::dominant_dtype(shares);
}

void settle_load(device_pointer self, const std::string& model_id, load_outcome& outcome) {
  auto& state = self->state;
  auto it = state.loading.find(model_id);
  if (it == state.loading.end())
    return;
  auto load = std::move(it->second);
  state.loading.erase(it);
  load.order.model.buffer.reset(); // the load no longer reads the cache's bytes: released before it answers
  state.memory.cancel_reservation(load.reserved_bytes);
  auto why_not = stopped(load, model_id);
  if (!outcome.ok && !why_not)
    why_not = failed_on_device(state, failure{outcome.error_code, "loading '" + model_id + "' failed: " + outcome.error,
                                              outcome.error_code == errc::insufficient_memory
                                                ? std::optional{shortfall(state, load.reserved_bytes)}
                                                : std::nullopt});
  if (why_not) {
    abandon(state, model_id, load, outcome);
    deliver_all(load, std::move(*why_not));
    return;
  }
  // A copy another load of the same identity made meanwhile is shared, and this one dropped.
  std::uint64_t bytes = 0;
  for (auto& part : outcome.parts)
    if (part.key.empty() || state.copies.count(part.key) == 0)
      bytes += part.weights->bytes();
  if (!state.memory.try_reserve(bytes)) {
    abandon(state, model_id, load, outcome);
    deliver_all(load, failed_on_device(state, out_of_memory("'" + model_id + "' took " + std::to_string(bytes) +
                                             " bytes, more than planned and more than is free",
                                           shortfall(state, bytes))));
    return;
  }
  state.memory.commit(bytes);
  auto elapsed = ms_since(load.started);
  auto load_ms = load.order.disk_to_host_ms.value_or(0) + elapsed;
  auto components = ordered_components(load.order);
  resident_model model;
  model.info.model_id = model_id;
  model.info.components = components;
  std::vector<std::pair<std::string, std::uint64_t>> dtypes;
  std::vector<std::string> shared; // components held already, by copies other models loaded
  std::uint64_t shared_bytes = 0;
  for (auto& key : load.reused) {
    auto& copy = state.copies.at(key); // its users include this load, so it stayed
    model.copies.push_back(key);
    shared.push_back(copy.component);
    shared_bytes += copy.bytes;
    dtypes.emplace_back(copy.weights->dtype(), copy.bytes);
  }
  for (auto& part : outcome.parts) {
    dtypes.emplace_back(part.weights->dtype(), part.weights->bytes());
    if (part.key.empty()) {
      model.own_bytes = part.weights->bytes();
      model.weights = std::move(part.weights);
      continue;
    }
    model.copies.push_back(part.key);
    auto [copy, made] = state.copies.try_emplace(part.key);
    if (!made) { // loaded twice at once: the first copy stays
      shared.push_back(copy->second.component);
      shared_bytes += copy->second.bytes;
      free_later(state.pools, std::move(part.weights));
    } else {
      copy->second = {part.identity, part.component, std::move(part.weights), 0, {}};
      copy->second.bytes = copy->second.weights->bytes();
    }
    copy->second.users.insert(model_id);
  }
  model.info.bytes = model.own_bytes;
  for (auto& key : model.copies)
    model.info.bytes += state.copies.at(key).bytes;
  model.info.dtype = dtype_of_parts(dtypes);
  model.info.loaded_at_ms = model.info.last_used_ms = epoch_ms();
  if (load.order.disk_to_host_ms || outcome.disk_to_host_ms)
    model.disk_to_host_ms = load.order.disk_to_host_ms.value_or(0) + outcome.disk_to_host_ms.value_or(0);
  model.host_to_device_ms = outcome.host_to_device_ms;
  keep_as_ordered(model, load.order.policy, true);
  for (auto& waiter : load.waiters)
    if (waiter.lease)
      grant(model, *waiter.lease);
  load_reply reply;
  reply.ok = true;
  reply.done.device_id = state.info.id;
  reply.done.memory_used_bytes = model.info.bytes;
  reply.done.dtype = model.info.dtype;
  state.resident.emplace(model_id, std::move(model));
  ++state.loads;
  state.load_time_ms_total += load_ms;
  // The same duration, once per load like `loads`, into the board's histogram (metrics).
  state.board->record_load(state.info.id, std::chrono::duration<double, std::milli>(load_ms), load.order.from_cache);
  // A load served from host memory: the event the cache counts as a hit too, once, when the
  // request whose answer `counts` reports it.
  if (load.order.from_cache)
    ++state.cache_hits;
  reply.done.load_time_ms = load_ms;
  if (load.order.disk_to_host_ms || outcome.disk_to_host_ms)
    reply.done.disk_to_host_ms = load.order.disk_to_host_ms.value_or(0) + outcome.disk_to_host_ms.value_or(0);
  reply.done.host_to_device_ms = outcome.host_to_device_ms;
  reply.done.from_cache = load.order.from_cache;
  reply.done.read_directly = outcome.read_directly;
  reply.read = outcome.read;
  for (auto& note : load.evicted)
    reply.done.evicted.push_back(note.model_id);
  reply.done.evictions = load.evicted;
  reply.done.eviction_rule = load.eviction_rule;
  reply.done.components = components;
  reply.done.shared_components = shared;
  reply.done.shared_bytes = shared_bytes;
  if (load.identified_here)
    reply.done.identities = load.order.model.identities;
  deliver_all(load, reply);
}

// The parts of a load: each identified component the device does not hold as a copy of its own
// (shared from now on), and the rest together as the model's own tensors. Copies the device
// holds already are taken into `load.reused` (this model joins their users). Without sharing,
// one part: the components the order names (none: every tensor), as before.
std::vector<part_job> plan_parts(device_state& state, const std::string& model_id, pending_load& load) {
  auto& order = load.order;
  load.shared_copies = order.policy.share_components && !order.model.identities.empty() &&
                       order.model.report->format != formats::model_format::torchscript;
  if (!load.shared_copies)
    return {{"", "", order.components}};
  std::vector<part_job> parts;
  part_job own;
  std::set<std::string> keys;
  for (auto& component : ordered_components(order)) {
    auto identity = formats::identity_of(order.model.identities, component);
    auto key = identity ? copy_key(*identity, order.dtype) : "";
    if (key.empty() || !keys.insert(key).second) { // no identity, or the same bytes twice in one model
      own.components.push_back(component);
    } else if (auto held = state.copies.find(key); held != state.copies.end()) {
      held->second.users.insert(model_id);
      load.reused.push_back(key);
    } else {
      parts.push_back({key, *identity, {component}});
    }
  }
  if (!own.components.empty())
    parts.push_back(std::move(own));
  return parts;
}

// The bytes each part takes on the device (into its `bytes`) and their sum, or why they
// cannot be loaded.
std::variant<std::uint64_t, std::string> planned_bytes_of(const load_order& order, const gpu::load_request& request,
                                                         std::vector<part_job>& parts) {
  std::uint64_t total = 0;
  for (auto& part : parts) {
    auto one = request;
    one.components = part.components;
    auto planned = gpu::planned_bytes(*order.model.report, one);
    if (auto* reason = std::get_if<std::string>(&planned))
      return *reason;
    part.bytes = std::get<std::uint64_t>(planned);
    total += part.bytes;
  }
  return total;
}

// Plans the copy of `load` (the parts the device does not hold yet), makes room for it
// (evicting when the order allows) and starts it on a loads worker; the refusal when it cannot.
std::optional<load_reply> begin_copy(device_pointer self, const std::string& model_id, pending_load& load) {
  auto& state = self->state;
  auto& order = load.order;
  gpu::load_request request{torch_device(state.info), order.components, order.dtype, nullptr, order.progress};
  auto parts = plan_parts(state, model_id, load);
  auto refuse = [&](load_reply reply) {
    for (auto& key : load.reused)
      leave_copy(state, key, model_id);
    load.reused.clear();
    return std::optional<load_reply>{std::move(reply)};
  };
  auto planned = planned_bytes_of(order, request, parts);
  if (auto* reason = std::get_if<std::string>(&planned))
    return refuse(failed(errc::invalid_request, *reason));
  auto needed = std::get<std::uint64_t>(planned);
  measure_allocator_reserve(state);
  if (!state.memory.try_reserve(needed)) {
    auto no_room = "'" + model_id + "' needs " + std::to_string(needed) + " bytes; " + state.info.id + " has " +
                   std::to_string(state.memory.free()) + " free of a " + std::to_string(state.memory.budget()) +
                   " byte budget";
    if (!order.policy.evict)
      return refuse(failed_on_device(state, out_of_memory(no_room, shortfall(state, needed))));
    auto rule = gpu::eviction_rule_named(order.policy.eviction_rule).value_or(gpu::eviction_rule::cost);
    auto plan = gpu::plan_eviction(eviction_candidates(state, order.policy), state.memory.free(), needed, rule);
    if (!plan.fits)
      return refuse(failed_on_device(state, out_of_memory(no_room + " even after eviction (kept: " +
                                                            std::to_string(plan.kept_pinned_bytes) + " bytes pinned, " +
                                                            std::to_string(plan.kept_leased_bytes) + " leased, " +
                                                            std::to_string(plan.kept_in_use_bytes) + " in use)",
                                                          shortfall(state, needed))));
    unload_reply freed;
    for (auto& choice : plan.chosen) {
      release(state, choice.model_id, freed);
      load.evicted.push_back(note_of(choice, rule));
    }
    state.evictions += plan.chosen.size();
    state.unloads -= plan.chosen.size(); // counted as evictions, not unloads
    load.eviction_rule = std::string{gpu::to_string(rule)};
    state.memory.try_reserve(needed);
  }
  load.reserved_bytes = needed;
  if (load.shared_copies) { // the parts read together: one read of the file, or one direct plan
    request.components.clear();
    for (auto& part : parts)
      request.components.insert(request.components.end(), part.components.begin(), part.components.end());
  }
  request.cancel = load.cancel.get();
  load_job job{model_id, order.model.path, order.model.file, order.model.report, order.model.buffer, request,
               std::move(parts), needed, load.cancel};
  on_loads_pool<load_outcome>(
    self, [job = std::move(job)]() mutable { return run_load(std::move(job)); },
    [self, model_id](load_outcome& outcome) { finish_load(self, model_id, outcome); });
  return std::nullopt;
}

// True when the device computes the identities of an order's components before it loads: it
// shares components, the catalog did not know them, and the model has components to identify.
bool needs_identities(const load_order& order) {
  return order.policy.share_components && order.model.identities.empty() &&
         !formats::shareable_components(*order.model.report).empty();
}

void identified(device_pointer self, const std::string& model_id, identify_outcome& outcome) {
  auto& state = self->state;
  auto it = state.loading.find(model_id);
  if (it == state.loading.end())
    return;
  auto& load = it->second;
  auto refused = stopped(load, model_id);
  if (!refused) {
    if (outcome.error.empty()) {
      load.order.model.identities = std::move(outcome.identities);
      load.identified_here = true;
    } else { // loaded without sharing: a failed identification never fails the load
      log::warning("identify_failed", {{"device_id", state.info.id}, {"model_id", model_id}, {"error", outcome.error}});
    }
    refused = begin_copy(self, model_id, load);
  }
  if (refused) {
    auto done = std::move(load);
    state.loading.erase(it);
    deliver_all(done, std::move(*refused));
  }
  publish_status(self);
}

// Computes the identities of a pending load's components on a loads worker, then begins its copy.
void identify(device_pointer self, const std::string& model_id) {
  auto& load = self->state.loading.at(model_id);
  on_loads_pool<identify_outcome>(
    self, [model = load.order.model, cancel = load.cancel] { return run_identify(model, cancel.get()); },
    [self, model_id](identify_outcome& outcome) { identified(self, model_id, outcome); });
}

} // namespace

double reload_ms(const resident_model& model, bool ram_cached) {
  return model.host_to_device_ms + (ram_cached ? 0 : model.disk_to_host_ms.value_or(0));
}

std::string copy_key(const std::string& identity, gpu::load_dtype dtype) {
  return identity + "/" + std::string{gpu::to_string(dtype)};
}

std::uint64_t exclusive_bytes(const device_state& state, const std::string& model_id, const resident_model& model) {
  auto bytes = model.own_bytes;
  for (auto& key : model.copies)
    if (auto copy = state.copies.find(key); copy != state.copies.end() && copy->second.users == std::set{model_id})
      bytes += copy->second.bytes;
  return bytes;
}

caf::result<load_reply> start_load(device_pointer self, load_order& order) {
  auto& state = self->state;
  auto model_id = order.model.model_id;
  if (auto held = state.resident.find(model_id); held != state.resident.end()) {
    if (!order.policy.lease) { // a load hit is a use: its keep-alive starts again
      touch(state, model_id);
      return failed(errc::model_already_loaded, "'" + model_id + "' is already loaded on " + state.info.id);
    }
    // lease: true on a model held already: the lease, and nothing loaded.
    auto& model = held->second;
    keep_as_ordered(model, order.policy, false);
    grant(model, *order.policy.lease);
    load_reply reply;
    reply.ok = true;
    reply.done.device_id = state.info.id;
    reply.done.memory_used_bytes = model.info.bytes;
    reply.done.components = model.info.components;
    reply.done.dtype = model.info.dtype;
    reply.done.lease_id = order.policy.lease->lease_id;
    reply.done.already_loaded = true;
    return reply;
  }
  // A response promise takes over the reply: every early answer comes before one is made.
  if (auto running = state.loading.find(model_id); running != state.loading.end()) {
    if (!same_load(running->second.order, order)) // one copy per model and device: it cannot be both
      return failed(errc::model_already_loaded, "'" + model_id + "' is being loaded on " + state.info.id + " as " +
                                              describe(running->second.order) + "; this request asks for " +
                                              describe(order) + " (unload it first)");
    auto promise = self->make_response_promise<load_reply>();
    running->second.waiters.push_back({order.ticket, promise, order.policy.lease}); // shares the load in progress
    return promise;
  }
  gpu::load_request request{torch_device(state.info), order.components, order.dtype, nullptr, order.progress};
  auto planned = gpu::planned_bytes(*order.model.report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    return failed(errc::invalid_request, *reason);
  if (self->clock().now() < state.oom_until)
    return failed_on_device(state, out_of_memory(state.info.id + " is out of memory (injected fault)",
                                                 shortfall(state, std::get<std::uint64_t>(planned))));
  auto& load = state.loading[model_id];
  load.order = order;
  load.started = std::chrono::steady_clock::now();
  if (needs_identities(order)) { // the catalog does not know them yet: computed first, on a worker
    auto promise = self->make_response_promise<load_reply>();
    load.waiters.push_back({order.ticket, promise, order.policy.lease});
    identify(self, model_id);
    return promise;
  }
  if (auto refused = begin_copy(self, model_id, load)) {
    state.loading.erase(model_id);
    return std::move(*refused);
  }
  auto promise = self->make_response_promise<load_reply>();
  load.waiters.push_back({order.ticket, promise, order.policy.lease});
  return promise;
}

unload_reply unload(device_pointer self, const unload_order& order) {
  auto& state = self->state;
  auto& model_id = order.model_id;
  unload_reply reply;
  std::vector<std::string> ids;
  if (model_id.empty())
    for (auto& [id, model] : state.resident)
      ids.push_back(id);
  else
    ids.push_back(model_id);
  for (auto& id : ids) {
    auto held = state.resident.find(id);
    if (held == state.resident.end())
      continue;
    auto& into = order.force ? reply.revoked : reply.kept;
    for (auto& holder : held->second.info.leases)
      into.push_back({state.info.id, id, holder});
    if (!held->second.info.leases.empty() && !order.force)
      continue;
    release(state, id, reply);
  }
  for (auto& [id, load] : state.loading)
    if (model_id.empty() || id == model_id) {
      load.unload_requested = true;
      load.cancel->store(true);
      reply.unloaded.push_back(id);
    }
  return reply;
}

release_reply release_lease(device_pointer self, const std::string& lease_id) {
  auto& state = self->state;
  auto named = [&](const lease_holder& holder) { return holder.lease_id == lease_id; };
  for (auto& [id, model] : state.resident) {
    auto& leases = model.info.leases;
    if (auto it = std::find_if(leases.begin(), leases.end(), named); it != leases.end()) {
      leases.erase(it);
      model.info.last_used_ms = epoch_ms(); // its keep-alive counts from here
      return {true, id};
    }
  }
  // Given back before its load finished (its connection closed): the load grants it to no one.
  for (auto& [id, load] : state.loading)
    for (auto& waiter : load.waiters)
      if (waiter.lease && named(*waiter.lease)) {
        waiter.lease.reset();
        return {true, id};
      }
  return {};
}

void expire_idle_models(device_pointer self) {
  auto& state = self->state;
  auto now = epoch_ms();
  std::vector<std::string> expired;
  for (auto& [id, model] : state.resident)
    if (model.info.leases.empty() && model.info.keep_alive_ms >= 0 &&
        now - model.info.last_used_ms >= model.info.keep_alive_ms && model.weights.use_count() <= 1)
      expired.push_back(id);
  if (expired.empty())
    return;
  for (auto& id : expired) {
    unload_reply freed;
    auto idle_ms = now - state.resident.at(id).info.last_used_ms;
    release(state, id, freed);
    --state.unloads; // counted as an expiration, not an unload
    ++state.expirations;
    log::info("model_expired", {{"device_id", state.info.id},
                                {"model_id", id},
                                {"idle_ms", idle_ms},
                                {"freed_bytes", freed.freed_bytes}});
  }
  publish_status(self);
}

void touch(device_state& state, const std::string& model_id) {
  if (auto held = state.resident.find(model_id); held != state.resident.end()) {
    held->second.info.last_used_ms = epoch_ms();
    ++held->second.info.uses;
  }
}

void drop_load_waiter(device_pointer self, std::uint64_t ticket) {
  for (auto& [id, load] : self->state.loading) {
    auto& waiters = load.waiters;
    auto it = std::find_if(waiters.begin(), waiters.end(), [&](auto& w) { return w.ticket == ticket; });
    if (it == waiters.end())
      continue;
    it->promise.deliver(failed(errc::cancelled, "the requester went away"));
    waiters.erase(it);
    if (waiters.empty())
      load.cancel->store(true);
    return;
  }
}

} // namespace modeld::actors
