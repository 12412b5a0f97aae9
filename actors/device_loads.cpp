#include "actors/device_loads.hpp"
#include "actors/cache.hpp"
#include "actors/epoch.hpp"
#include "actors/log.hpp"
#include "gpu/eviction_policy.hpp"

#include <caf/sec.hpp>

#include <algorithm>

namespace modeld::actors {
namespace {

struct load_job {
  std::string model_id;
  std::string path;
  std::shared_ptr<const formats::unique_fd> file; // opened inside the roots
  std::shared_ptr<const formats::model_report> report;
  std::shared_ptr<const gpu::host_buffer> buffer; // null: read the file straight into the device
  gpu::load_request request;
  std::uint64_t device_bytes = 0;                 // what the load takes on the device (planned)
  std::shared_ptr<std::atomic<bool>> cancel; // keeps request.cancel alive
};

struct load_outcome {
  bool ok = false;
  errc error_code = errc::internal;
  std::string error;
  std::shared_ptr<gpu::loaded_weights> weights;
  double host_to_device_ms = 0;
  std::optional<double> disk_to_host_ms;          // when the worker read the file into host memory
  std::shared_ptr<const gpu::host_buffer> read;   // that buffer, for the cache
  bool read_directly = false;
};

// The weights and the buffer travel as node-local references (local_ref.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_outcome& x) {
  return f(caf::meta::type_name("load_outcome"), x.ok, x.error_code, x.error, local(x.weights), x.host_to_device_ms,
           catalog::optional_of(x.disk_to_host_ms), local(x.read), x.read_directly);
}

} // namespace
} // namespace modeld::actors

namespace modeld::actors {
namespace {

std::variant<gpu::load_success, gpu::load_error> load_from_file(const load_job& job) {
  auto reader = reader_of(job.path, job.file);
  if (auto* refusal = std::get_if<failure>(&reader))
    return gpu::load_error{refusal->message};
  return gpu::load_weights_from_file(*job.report, std::get<gpu::file_reader>(reader), job.request);
}

// One load, on a worker of the loads pool. The job is taken by value, so the cache's buffer is
// released when this returns, before the device hears the outcome (the cache shows the entry
// in use until then).
load_outcome run_load(load_job job) {
  load_outcome outcome;
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
  auto loaded = buffer ? gpu::load_weights(*job.report, *buffer, job.request) : load_from_file(job);
  if (auto* error = std::get_if<gpu::load_error>(&loaded)) {
    outcome.error = error->message;
    if (error->out_of_memory)
      outcome.error_code = errc::insufficient_memory;
    return outcome;
  }
  auto& success = std::get<gpu::load_success>(loaded);
  outcome.ok = true;
  outcome.weights = success.weights;
  outcome.host_to_device_ms = success.timing.host_to_device_ms;
  return outcome;
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

void release(device_state& state, const std::string& model_id, unload_reply& reply) {
  auto it = state.resident.find(model_id);
  if (it == state.resident.end())
    return;
  state.memory.release(it->second.info.bytes);
  reply.freed_bytes += it->second.info.bytes;
  reply.unloaded.push_back(model_id);
  free_later(state.pools, std::move(it->second.weights)); // the last reference: freed on the frees pool
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
    c.bytes = model.info.bytes;
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

void settle_load(device_pointer self, const std::string& model_id, load_outcome& outcome) {
  auto& state = self->state;
  auto it = state.loading.find(model_id);
  if (it == state.loading.end())
    return;
  auto load = std::move(it->second);
  state.loading.erase(it);
  load.order.model.buffer.reset(); // the load no longer reads the cache's bytes: released before it answers
  state.memory.cancel_reservation(load.reserved_bytes);
  if (!outcome.ok || load.unload_requested || load.cancel->load()) {
    auto reply = load.unload_requested ? failed(errc::cancelled, "'" + model_id + "' was unloaded while it loaded")
                 : load.cancel->load() ? failed(errc::cancelled, "the load of '" + model_id + "' was cancelled")
                                       : failed_on_device(state, failure{outcome.error_code, "loading '" + model_id + "' failed: " + outcome.error,
                                                        outcome.error_code == errc::insufficient_memory
                                                          ? std::optional{shortfall(state, load.reserved_bytes)}
                                                          : std::nullopt});
    deliver_all(load, reply);
    return;
  }
  auto bytes = outcome.weights->bytes();
  if (!state.memory.try_reserve(bytes)) {
    deliver_all(load, failed_on_device(state, out_of_memory("'" + model_id + "' took " + std::to_string(bytes) +
                                             " bytes, more than planned and more than is free",
                                           shortfall(state, bytes))));
    return;
  }
  state.memory.commit(bytes);
  auto elapsed = ms_since(load.started);
  auto load_ms = load.order.disk_to_host_ms.value_or(0) + elapsed;
  auto components = load.order.components;
  if (components.empty())
    for (auto& c : load.order.model.report->components)
      components.push_back(c.name);
  resident_model model;
  model.info.model_id = model_id;
  model.info.components = components;
  model.info.dtype = outcome.weights->dtype();
  model.info.bytes = bytes;
  model.info.loaded_at_ms = model.info.last_used_ms = epoch_ms();
  model.weights = outcome.weights;
  if (load.order.disk_to_host_ms || outcome.disk_to_host_ms)
    model.disk_to_host_ms = load.order.disk_to_host_ms.value_or(0) + outcome.disk_to_host_ms.value_or(0);
  model.host_to_device_ms = outcome.host_to_device_ms;
  keep_as_ordered(model, load.order.policy, true);
  for (auto& waiter : load.waiters)
    if (waiter.lease)
      grant(model, *waiter.lease);
  state.resident.emplace(model_id, std::move(model));
  ++state.loads;
  state.load_time_ms_total += load_ms;
  // The same duration, once per load like `loads`, into the board's histogram (metrics).
  state.board->record_load(state.info.id, std::chrono::duration<double, std::milli>(load_ms), load.order.from_cache);
  // A load served from host memory: the event the cache counts as a hit too, once, when the
  // request whose answer `counts` reports it.
  if (load.order.from_cache)
    ++state.cache_hits;
  load_reply reply;
  reply.ok = true;
  reply.done.device_id = state.info.id;
  reply.done.memory_used_bytes = bytes;
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
  reply.done.dtype = outcome.weights->dtype();
  deliver_all(load, reply);
}

} // namespace

double reload_ms(const resident_model& model, bool ram_cached) {
  return model.host_to_device_ms + (ram_cached ? 0 : model.disk_to_host_ms.value_or(0));
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
  auto needed = std::get<std::uint64_t>(planned);
  if (self->clock().now() < state.oom_until)
    return failed_on_device(state, out_of_memory(state.info.id + " is out of memory (injected fault)", shortfall(state, needed)));
  measure_allocator_reserve(state);
  pending_load load;
  load.order = order;
  load.started = std::chrono::steady_clock::now();
  if (!state.memory.try_reserve(needed)) {
    auto no_room = "'" + model_id + "' needs " + std::to_string(needed) + " bytes; " + state.info.id + " has " +
                   std::to_string(state.memory.free()) + " free of a " + std::to_string(state.memory.budget()) +
                   " byte budget";
    if (!order.policy.evict)
      return failed_on_device(state, out_of_memory(no_room, shortfall(state, needed)));
    auto rule = gpu::eviction_rule_named(order.policy.eviction_rule).value_or(gpu::eviction_rule::cost);
    auto plan = gpu::plan_eviction(eviction_candidates(state, order.policy), state.memory.free(), needed, rule);
    if (!plan.fits)
      return failed_on_device(state, out_of_memory(no_room + " even after eviction (kept: " +
                                                     std::to_string(plan.kept_pinned_bytes) + " bytes pinned, " +
                                                     std::to_string(plan.kept_leased_bytes) + " leased, " +
                                                     std::to_string(plan.kept_in_use_bytes) + " in use)",
                                                   shortfall(state, needed)));
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
  auto promise = self->make_response_promise<load_reply>();
  load.reserved_bytes = needed;
  load.waiters.push_back({order.ticket, promise, order.policy.lease});
  request.cancel = load.cancel.get();
  load_job job{model_id, order.model.path, order.model.file, order.model.report, order.model.buffer, request, needed, load.cancel};
  state.loading.emplace(model_id, std::move(load));
  blocking_job work{[job = std::move(job)]() mutable { return caf::make_message(run_load(std::move(job))); }};
  self->request(state.pools.loads, caf::infinite, run_atom::value, std::move(work))
    .then([self, model_id](load_outcome& outcome) { finish_load(self, model_id, outcome); },
          [self, model_id](caf::error& error) {
            load_outcome outcome;
            outcome.error = self->system().render(error);
            finish_load(self, model_id, outcome);
          });
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
        now - model.info.last_used_ms >= model.info.keep_alive_ms && model.weights.use_count() == 1)
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
