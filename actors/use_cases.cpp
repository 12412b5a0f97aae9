#include "actors/use_cases.hpp"

#include "actors/cache.hpp"
#include "actors/use_case_routes.hpp"
#include "catalog/report_json.hpp"
#include "actors/epoch.hpp"
#include "actors/log.hpp"
#include "actors/placement.hpp"

#include <caf/typed_response_promise.hpp>

#include <functional>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace modeld::actors {
namespace {

using self_pointer = use_case_pointer;
using load_promise = caf::typed_response_promise<load_result>;

load_result failed(failure why) { return refused_with<load_result>(std::move(why)); }

// The devices that are running now (a restarting one has no handle), in the order of --devices.
std::vector<registry_entry> running_devices(self_pointer self) {
  std::vector<registry_entry> running;
  auto devices = self->state.devices->snapshot(); // held: a restart publishes a new one meanwhile
  for (auto& entry : *devices)
    if (entry.handle)
      running.push_back(entry);
  return running;
}

// Work for one device that starts with its model resolved, fetched and placed.
struct placed_model {
  registry_entry device;
  cache_fetch fetched; // the tensor table; the bytes only when cached (a device reads the file on a miss)
};

// fetch_model's tensor table (a device reads the file itself on a miss), placed on `device`
// (named and checked already) or else on the ready device with the most free memory; then
// `next`, or `fail`. A ticket dropped meanwhile fails as cancelled.
void place_model(self_pointer self, std::uint64_t ticket, std::string model_id, std::optional<registry_entry> device,
                 std::function<void(placed_model)> next, std::function<void(failure)> fail) {
  self->state.started.insert(ticket);
  auto fetched = [self, ticket, model_id, device, next, fail](cache_fetch& result) mutable {
    if (self->state.dropped.count(ticket) > 0)
      return fail({errc::cancelled, "the request for '" + model_id + "' was cancelled"});
    if (!device)
      device = roomiest_device(*self->state.devices);
    if (!device)
      return fail({errc::device_unavailable, "no device is ready"});
    next({std::move(*device), std::move(result)});
  };
  fetch_model(self, std::move(model_id), false, std::move(fetched), std::move(fail));
}

// The device a request names (empty: none, placement picks), or why it cannot take work.
std::variant<std::optional<registry_entry>, failure> requested_device(self_pointer self, const std::string& device_id) {
  if (device_id.empty())
    return std::optional<registry_entry>{};
  auto named = named_device(*self->state.devices, device_id);
  if (auto* why = std::get_if<failure>(&named))
    return std::move(*why);
  return std::optional<registry_entry>{std::get<registry_entry>(named)};
}

// One load from its start to its answer; shared by the continuations of its asks.
struct load_flow {
  load_request request;
  load_promise promise;
  cache_fetch fetched;
};
using flow_pointer = std::shared_ptr<load_flow>;

void answer(self_pointer self, const flow_pointer& flow, load_result result) {
  forget(self, flow->request.ticket);
  flow->promise.deliver(std::move(result));
}

load_result loaded_result(const load_flow& flow, const load_reply& reply) {
  load_result result;
  result.ok = true;
  result.model_id = flow.fetched.model.model_id;
  result.done = reply.done;
  return result;
}

void finish_loaded(self_pointer self, const flow_pointer& flow, const load_reply& reply) {
  for (auto& evicted : reply.done.evicted)
    log::info("evicted", {{"request_id", flow->request.request_id},
                          {"device_id", reply.done.device_id},
                          {"model_id", evicted},
                          {"for_model_id", flow->fetched.model.model_id}});
  answer(self, flow, loaded_result(*flow, reply));
}

// Hits and misses are counted after the load loaded, by the one request whose answer `counts`
// (the first of those sharing one device load): the fetch did not count, as the device may
// still have refused the load (MODEL_ALREADY_LOADED, INSUFFICIENT_MEMORY, ...), and the device
// counts its cache_hits for the same load, so the two agree. After a miss, the device read the
// file itself; the cache keeps the buffer it read, or reads the file after this answer. The
// answer waits until the fill is under way, so that a load sent after it finds it (and until
// the count is in, so statistics read after it include it).
void report_to_cache(self_pointer self, const flow_pointer& flow, load_reply reply) {
  if (reply.done.already_loaded || (!reply.counts && reply.done.from_cache)) {
    finish_loaded(self, flow, reply);
    return;
  }
  auto reported = flow->fetched.model;
  reported.buffer = std::move(reply.read); // null on a hit: the cache holds the bytes already
  reply.read.reset();
  auto done = [self, flow, reply](auto&&...) { finish_loaded(self, flow, reply); };
  auto cache = self->state.services->cache();
  if (reply.counts)
    watched_request<bool>(self, cache, caf::infinite, done, done, loaded_atom::value, std::move(reported),
                          reply.done.from_cache);
  else
    watched_request<bool>(self, cache, caf::infinite, done, done, fill_atom::value, std::move(reported));
}

// The component identities the catalog keeps for the file as it was fetched (none when it
// changed since, or no load computed them yet).
std::vector<formats::component_identity> known_identities(self_pointer self, const cached_model& model) {
  auto catalog = self->state.catalog->read(); // held while read: the store may publish a new one
  auto record = catalog->models.find(model.model_id);
  if (record == catalog->models.end() || record->second->entry.size_bytes != model.size_bytes ||
      record->second->entry.mtime_ns != model.mtime_ns)
    return {};
  return catalog::component_identities(record->second->entry.components_json);
}

// The catalog keeps the identities a device computed, for the next load of the file.
void keep_identities(self_pointer self, const cached_model& model, std::vector<formats::component_identity> identities) {
  self->request(self->state.services->store(), std::chrono::seconds(10), identify_atom::value,
                identified_components{model.model_id, model.size_bytes, model.mtime_ns, std::move(identities)})
    .then([](ok_atom) {}, [](const caf::error&) {}); // a store that cannot keep them (restarting) costs the next load one identification
}

void load_on_device(self_pointer self, const flow_pointer& flow, const registry_entry& target) {
  auto& request = flow->request;
  auto device = target.handle;
  auto device_id = target.info.id;
  if (request.policy.share_components)
    flow->fetched.model.identities = known_identities(self, flow->fetched.model);
  load_order order{request.ticket,     flow->fetched.model, flow->fetched.from_cache, flow->fetched.disk_to_host_ms,
                   request.components, request.dtype,       request.policy,           request.progress};
  if (order.policy.evict) { // what the RAM cache holds comes back cheaply: the eviction rule weighs it
    auto cached = self->state.cache->read(); // held while read: the board may publish a new one
    for (auto& entry : cached->entries)
      order.policy.ram_cached.push_back(entry.model_id);
  }
  working_on(self, request.ticket, device);
  watched_request<load_reply>(
    self, device, caf::infinite,
    [self, flow, device_id](load_reply& reply) {
      if (!reply.ok) {
        answer(self, flow, failed(std::move(reply.error).about("device_id", device_id)));
        return;
      }
      if (!reply.done.identities.empty()) { // the cache keeps the entry by them too
        flow->fetched.model.identities = reply.done.identities;
        keep_identities(self, flow->fetched.model, std::move(reply.done.identities));
      }
      report_to_cache(self, flow, std::move(reply));
    },
    [self, flow, device, device_id](const caf::error& error) {
      self->send(device, drop_atom::value, flow->request.ticket); // a load nobody waits for stops
      answer(self, flow,
             failed({errc::device_unavailable, "device " + device_id + " did not complete the load: " + caf::to_string(error)}));
    },
    load_atom::value, std::move(order));
}

caf::result<load_result> start_load(self_pointer self, load_request& request) {
  if (auto routed = load_on_node(self, request))
    return std::move(*routed);
  auto device = requested_device(self, request.device_id);
  if (auto* why = std::get_if<failure>(&device))
    return failed(std::move(*why));
  // A lease without a device names the device that holds the model already, if one does.
  if (request.policy.lease && !std::get<std::optional<registry_entry>>(device))
    device = holding_device(*self->state.devices, request.model_id);
  auto flow = std::make_shared<load_flow>(load_flow{std::move(request), self->make_response_promise<load_result>(), {}});
  place_model(
    self, flow->request.ticket, flow->request.model_id, std::get<std::optional<registry_entry>>(device),
    [self, flow](placed_model placed) {
      flow->fetched = std::move(placed.fetched);
      load_on_device(self, flow, placed.device);
    },
    [self, flow](failure why) { answer(self, flow, failed(std::move(why))); });
  return flow->promise;
}

caf::result<benchmark_result> start_benchmark(self_pointer self, benchmark_command& command) {
  if (auto routed = benchmark_on_node(self, command))
    return std::move(*routed);
  auto device = requested_device(self, command.device_id);
  auto refused = [](failure why) { return refused_with<benchmark_result>(std::move(why)); };
  if (auto* why = std::get_if<failure>(&device))
    return refused(std::move(*why));
  auto promise = std::make_shared<caf::typed_response_promise<benchmark_result>>(
    self->make_response_promise<benchmark_result>());
  auto ticket = command.ticket;
  auto answer_with = [self, promise, ticket](benchmark_result result) {
    forget(self, ticket);
    promise->deliver(std::move(result));
  };
  place_model(
    self, ticket, command.model_id, std::get<std::optional<registry_entry>>(device),
    [self, command, answer_with, refused](placed_model placed) {
      auto& model = placed.fetched.model; // a benchmark reads the file anew: it does not hold the cache's bytes
      benchmark_order order{command.ticket, model.model_id, model.path,    model.file,
                            command.inference, command.request, model.report, nullptr};
      auto device = placed.device.handle;
      auto device_id = placed.device.info.id;
      auto model_id = model.model_id;
      working_on(self, command.ticket, device);
      watched_request<benchmark_reply>(
        self, device, caf::infinite,
        [answer_with, model_id](benchmark_reply& reply) { answer_with({model_id, std::move(reply)}); },
        [self, device, device_id, ticket = command.ticket, answer_with, refused](const caf::error& error) {
          self->send(device, drop_atom::value, ticket); // a benchmark nobody waits for stops
          answer_with(refused({errc::device_unavailable,
                               "device " + device_id + " did not complete the benchmark: " + caf::to_string(error)}));
        },
        benchmark_atom::value, std::move(order));
    },
    [answer_with, refused](failure why) { answer_with(refused(std::move(why))); });
  return *promise;
}

} // namespace

void fetch_model(use_case_pointer self, std::string model_id, bool read_on_miss, std::function<void(cache_fetch&)> next,
                 std::function<void(failure)> fail) {
  auto located = [self, model_id, read_on_miss, next, fail](located_file& file) {
    if (!file.found)
      return fail(located_failure(file.error).about("model_id", model_id));
    auto opened = file.file;
    watched_request<cache_fetch>(
      self, self->state.services->cache(), caf::infinite,
      [next, fail, opened](cache_fetch& result) {
        if (!result.ok)
          return fail(std::move(result.error));
        result.model.file = opened; // what a device reads, whether or not the cache holds the bytes
        next(result);
      },
      [fail](const caf::error& error) { fail(failure_of(error, "reading the model")); }, fetch_atom::value,
      std::move(file), read_on_miss);
  };
  watched_request<located_file>(
    self, self->state.scanner, caf::infinite, located,
    [fail](const caf::error& error) { fail(failure_of(error, "resolving the model")); }, resolve_atom::value,
    std::move(model_id), false);
}

failure leased_conflict(const std::string& model_id, std::size_t leases) {
  return failure{errc::conflict, "'" + model_id + "' is leased (" + std::to_string(leases) +
                                   " lease(s)); it stays loaded until they are released or their connections "
                                   "close, or unload it with force: true"}
    .about("model_id", model_id);
}

namespace {

unload_result unload_refused(failure why) { return refused_with<unload_result>(std::move(why)); }

// Asks each device in turn (in the order of --devices), so the answer lists them in order.
struct unload_flow {
  unload_request request;
  caf::typed_response_promise<unload_result> promise;
  std::vector<registry_entry> targets;
  std::size_t next = 0;
  unload_result result;
};

void unload_next(self_pointer self, const std::shared_ptr<unload_flow>& flow) {
  if (flow->next == flow->targets.size()) {
    bool any = false;
    for (auto& d : flow->result.devices)
      any = any || !d.unloaded.empty();
    auto& id = flow->request.model_id;
    if (!id.empty() && !flow->result.kept.empty()) {
      flow->result.error = leased_conflict(id, flow->result.kept.size());
      flow->promise.deliver(std::move(flow->result));
      return;
    }
    if (!id.empty() && !any) {
      flow->promise.deliver(unload_refused(failure{errc::model_not_loaded, "'" + id + "' is not loaded"}.about("model_id", id)));
      return;
    }
    flow->result.ok = true;
    flow->promise.deliver(std::move(flow->result));
    return;
  }
  auto& target = flow->targets[flow->next++];
  auto device_id = target.info.id;
  watched_request<unload_reply>(self, target.handle, caf::infinite,
    [self, flow, device_id](unload_reply& reply) {
      flow->result.devices.push_back({device_id, std::move(reply.unloaded), reply.freed_bytes});
      for (auto& kept : reply.kept)
        flow->result.kept.push_back(std::move(kept));
      for (auto& revoked : reply.revoked)
        flow->result.revoked.push_back(std::move(revoked));
      unload_next(self, flow);
    },
    [flow, device_id](const caf::error& error) {
      flow->promise.deliver(unload_refused(
        failure{errc::device_unavailable, "device " + device_id + " did not complete the unload: " + caf::to_string(error)}
          .about("device_id", device_id)));
    },
    unload_atom::value, unload_order{flow->request.model_id, flow->request.force});
}

// Asks each device in turn until one holds the lease, then the joined nodes.
struct release_flow {
  release_request request;
  caf::typed_response_promise<release_result> promise;
  std::vector<registry_entry> targets;
  std::size_t next = 0;
};

void release_next(self_pointer self, const std::shared_ptr<release_flow>& flow) {
  if (flow->next == flow->targets.size()) {
    if (flow->request.this_node_only)
      flow->promise.deliver(release_result{});
    else
      release_on_nodes(self, flow->request.lease_id, flow->promise);
    return;
  }
  auto& target = flow->targets[flow->next++];
  auto device_id = target.info.id;
  auto next = [self, flow](auto&&...) { release_next(self, flow); }; // a device gone holds no lease
  watched_request<release_reply>(
    self, target.handle, caf::infinite,
    [self, flow, device_id](release_reply& reply) {
      if (!reply.released)
        return release_next(self, flow);
      flow->promise.deliver(release_result{true, device_id, std::move(reply.model_id), {}});
    },
    next, release_atom::value, flow->request.lease_id);
}

caf::result<release_result> start_release(self_pointer self, release_request& request) {
  auto flow = std::make_shared<release_flow>();
  flow->request = std::move(request);
  flow->targets = running_devices(self);
  flow->promise = self->make_response_promise<release_result>();
  release_next(self, flow);
  return flow->promise;
}

caf::result<unload_result> start_unload(self_pointer self, unload_request& request) {
  if (auto routed = unload_on_node(self, request))
    return std::move(*routed);
  auto flow = std::make_shared<unload_flow>();
  if (!request.device_id.empty()) {
    auto named = named_device(*self->state.devices, request.device_id);
    if (auto* why = std::get_if<failure>(&named))
      return unload_refused(std::move(*why));
    flow->targets.push_back(std::get<registry_entry>(named));
  } else {
    flow->targets = running_devices(self);
  }
  flow->request = std::move(request);
  flow->promise = self->make_response_promise<unload_result>();
  unload_next(self, flow);
  return flow->promise;
}

} // namespace

void forget(use_case_pointer self, std::uint64_t ticket) {
  self->state.started.erase(ticket);
  self->state.dropped.erase(ticket);
  self->state.working.erase(ticket);
}

use_case_actor::behavior_type use_cases(use_case_pointer self, std::shared_ptr<const device_registry> devices,
                                        std::shared_ptr<const service_registry> services, scanner_actor scanner,
                                        std::shared_ptr<const cache_board> cache_board,
                                        std::shared_ptr<const catalog_board> catalog_board) {
  self->state.cache = std::move(cache_board);
  self->state.catalog = std::move(catalog_board);
  self->state.devices = std::move(devices);
  self->state.services = std::move(services);
  self->state.scanner = std::move(scanner);
  self->set_down_handler([self](caf::down_msg& down) { self->state.watches.on_down(down); });
  return {
    [self](load_atom, load_request& request) { return start_load(self, request); },
    [self](unload_atom, unload_request& request) { return start_unload(self, request); },
    [self](release_atom, release_request& request) { return start_release(self, request); },
    [self](benchmark_atom, benchmark_command& command) { return start_benchmark(self, command); },
    [self](validate_atom, validate_request& request) { return start_validate(self, request); },
    [self](cached_atom, cache_request& request) { return start_cache_report(self, request); },
    [self](fetch_atom, cache_request& request) { return start_cache_fill(self, request); },
    [self](evict_atom, cache_request& request) { return start_cache_evict(self, request); },
    [self](drop_atom, std::uint64_t ticket) {
      auto& state = self->state;
      if (auto working = state.working.find(ticket); working != state.working.end())
        working->second();
      else if (state.started.count(ticket) > 0)
        state.dropped.insert(ticket); // not at a device yet: answered as cancelled when it gets there
    },
  };
}

} // namespace modeld::actors
