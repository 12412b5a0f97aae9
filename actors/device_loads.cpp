#include "actors/device_loads.hpp"
#include "actors/cache.hpp"
#include "actors/epoch.hpp"

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

// The first waiter's answer of a load that succeeded `counts` (load_reply::counts).
void deliver_all(pending_load& load, load_reply reply) {
  reply.counts = reply.ok;
  for (auto& [ticket, promise] : load.waiters) {
    promise.deliver(reply);
    reply.counts = false;
  }
  load.waiters.clear();
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
  resident_model model{{model_id, components, outcome.weights->dtype(), bytes, epoch_ms(), epoch_ms()}, outcome.weights};
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
  reply.done.evicted = load.evicted;
  reply.done.components = components;
  reply.done.dtype = outcome.weights->dtype();
  deliver_all(load, reply);
}

} // namespace

std::vector<std::string> eviction_candidates(const device_state& state, std::uint64_t needed) {
  std::vector<const resident_model*> by_age;
  for (auto& [id, model] : state.resident)
    by_age.push_back(&model);
  std::sort(by_age.begin(), by_age.end(),
            [](auto* a, auto* b) { return a->info.last_used_ms < b->info.last_used_ms; });
  std::vector<std::string> chosen;
  auto free = state.memory.free();
  for (auto* model : by_age) {
    if (free >= needed)
      break;
    // A model whose weights something else still holds (a benchmark) is in use.
    if (model->weights.use_count() > 1)
      continue;
    chosen.push_back(model->info.model_id);
    free += model->info.bytes;
  }
  return free >= needed ? chosen : std::vector<std::string>{};
}

caf::result<load_reply> start_load(device_pointer self, load_order& order) {
  auto& state = self->state;
  auto model_id = order.model.model_id;
  if (state.resident.count(model_id) > 0)
    return failed(errc::model_already_loaded, "'" + model_id + "' is already loaded on " + state.info.id);
  // A response promise takes over the reply: every early answer comes before one is made.
  if (auto running = state.loading.find(model_id); running != state.loading.end()) {
    if (!same_load(running->second.order, order)) // one copy per model and device: it cannot be both
      return failed(errc::model_already_loaded, "'" + model_id + "' is being loaded on " + state.info.id + " as " +
                                              describe(running->second.order) + "; this request asks for " +
                                              describe(order) + " (unload it first)");
    auto promise = self->make_response_promise<load_reply>();
    running->second.waiters.emplace_back(order.ticket, promise); // shares the load in progress
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
    auto candidates = order.evict ? eviction_candidates(state, needed) : std::vector<std::string>{};
    if (candidates.empty())
      return failed_on_device(state, out_of_memory("'" + model_id + "' needs " + std::to_string(needed) + " bytes; " + state.info.id +
                                    " has " + std::to_string(state.memory.free()) + " free of a " +
                                    std::to_string(state.memory.budget()) + " byte budget" +
                                    (order.evict ? " even after eviction" : ""),
                                  shortfall(state, needed)));
    unload_reply freed;
    for (auto& id : candidates)
      release(state, id, freed);
    state.evictions += candidates.size();
    state.unloads -= candidates.size(); // counted as evictions, not unloads
    load.evicted = candidates;
    state.memory.try_reserve(needed);
  }
  auto promise = self->make_response_promise<load_reply>();
  load.reserved_bytes = needed;
  load.waiters.emplace_back(order.ticket, promise);
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

unload_reply unload(device_pointer self, const std::string& model_id) {
  auto& state = self->state;
  unload_reply reply;
  std::vector<std::string> ids;
  if (model_id.empty())
    for (auto& [id, model] : state.resident)
      ids.push_back(id);
  else
    ids.push_back(model_id);
  for (auto& id : ids)
    release(state, id, reply);
  for (auto& [id, load] : state.loading)
    if (model_id.empty() || id == model_id) {
      load.unload_requested = true;
      load.cancel->store(true);
      reply.unloaded.push_back(id);
    }
  return reply;
}

void drop_load_waiter(device_pointer self, std::uint64_t ticket) {
  for (auto& [id, load] : self->state.loading) {
    auto& waiters = load.waiters;
    auto it = std::find_if(waiters.begin(), waiters.end(), [&](auto& w) { return w.first == ticket; });
    if (it == waiters.end())
      continue;
    it->second.deliver(failed(errc::cancelled, "the requester went away"));
    waiters.erase(it);
    if (waiters.empty())
      load.cancel->store(true);
    return;
  }
}

} // namespace modeld::actors
