#include "actors/load_coordinator.hpp"

#include "actors/epoch.hpp"
#include "actors/log.hpp"
#include "actors/placement.hpp"

#include <caf/typed_response_promise.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace modeld::actors {
namespace {

using self_pointer = load_coordinator_pointer;
using load_promise = caf::typed_response_promise<load_result>;

load_result failed(failure why) {
  load_result result;
  result.error = std::move(why);
  return result;
}

// One load from its start to its answer; shared by the continuations of its asks.
struct load_flow {
  load_request request;
  load_promise promise;
  std::optional<registry_entry> device; // named, or placed once the model is fetched
  cache_fetch fetched;
};
using flow_pointer = std::shared_ptr<load_flow>;

void answer(self_pointer self, const flow_pointer& flow, load_result result) {
  auto ticket = flow->request.ticket;
  self->state.started.erase(ticket);
  self->state.dropped.erase(ticket);
  self->state.working.erase(ticket);
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
  if (!reply.counts && reply.done.from_cache) {
    finish_loaded(self, flow, reply);
    return;
  }
  auto reported = flow->fetched.model;
  reported.buffer = std::move(reply.read); // null on a hit: the cache holds the bytes already
  reply.read.reset();
  auto done = [self, flow, reply](auto&&...) { finish_loaded(self, flow, reply); };
  auto cache = self->state.services->cache();
  if (reply.counts)
    watched_request<bool>(self, cache, caf::infinite, done, done, loaded_atom::value, std::move(reported), reply.done.from_cache);
  else
    watched_request<bool>(self, cache, caf::infinite, done, done, fill_atom::value, std::move(reported));
}

void load_on_device(self_pointer self, const flow_pointer& flow) {
  auto& request = flow->request;
  if (self->state.dropped.count(request.ticket) > 0) {
    answer(self, flow, failed({errc::cancelled, "the load of '" + request.model_id + "' was cancelled"}));
    return;
  }
  if (!flow->device)
    flow->device = roomiest_device(*self->state.devices);
  if (!flow->device) {
    answer(self, flow, failed({errc::device_unavailable, "no device is ready"}));
    return;
  }
  auto device = flow->device->handle;
  auto device_id = flow->device->info.id;
  load_order order{request.ticket,        flow->fetched.model, flow->fetched.from_cache, flow->fetched.disk_to_host_ms,
                   request.components,    request.dtype,       request.evict,            request.progress};
  self->state.working[request.ticket] = device;
  watched_request<load_reply>(self, device, caf::infinite,
    [self, flow, device_id](load_reply& reply) {
      if (!reply.ok) {
        answer(self, flow, failed(std::move(reply.error).about("device_id", device_id)));
        return;
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

// The model's tensor table through the cache (its bytes only when cached: a device reads the
// file itself on a miss).
void fetch(self_pointer self, const flow_pointer& flow, located_file file) {
  if (!file.found) {
    answer(self, flow, failed(located_failure(file.error).about("model_id", flow->request.model_id)));
    return;
  }
  auto opened = file.file;
  watched_request<cache_fetch>(self, self->state.services->cache(), caf::infinite,
    [self, flow, opened](cache_fetch& fetched) {
      if (!fetched.ok) {
        answer(self, flow, failed(std::move(fetched.error)));
        return;
      }
      fetched.model.file = opened; // what a load reads, whether or not the cache holds the bytes
      flow->fetched = std::move(fetched);
      load_on_device(self, flow);
    },
    [self, flow](const caf::error& error) { answer(self, flow, failed(failure_of(error, "reading the model"))); },
    fetch_atom::value, std::move(file), false);
}

caf::result<load_result> start_load(self_pointer self, load_request& request) {
  std::optional<registry_entry> device;
  if (!request.device_id.empty()) {
    auto named = named_device(*self->state.devices, request.device_id);
    if (auto* why = std::get_if<failure>(&named))
      return failed(std::move(*why));
    device = std::get<registry_entry>(named);
  }
  auto flow = std::make_shared<load_flow>(load_flow{std::move(request), self->make_response_promise<load_result>(),
                                                    std::move(device), {}});
  self->state.started.insert(flow->request.ticket);
  watched_request<located_file>(self, self->state.scanner, caf::infinite, [self, flow](located_file& file) { fetch(self, flow, std::move(file)); },
    [self, flow](const caf::error& error) { answer(self, flow, failed(failure_of(error, "resolving the model"))); },
    resolve_atom::value, flow->request.model_id, false);
  return flow->promise;
}

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
    if (!id.empty() && !any) {
      flow->promise.deliver(unload_result{false, failure{errc::model_not_loaded, "'" + id + "' is not loaded"}.about("model_id", id), {}});
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
      unload_next(self, flow);
    },
    [flow, device_id](const caf::error& error) {
      flow->promise.deliver(unload_result{
        false,
        failure{errc::device_unavailable, "device " + device_id + " did not complete the unload: " + caf::to_string(error)}
          .about("device_id", device_id),
        {}});
    },
    unload_atom::value, flow->request.model_id);
}

caf::result<unload_result> start_unload(self_pointer self, unload_request& request) {
  auto flow = std::make_shared<unload_flow>();
  if (!request.device_id.empty()) {
    auto named = named_device(*self->state.devices, request.device_id);
    if (auto* why = std::get_if<failure>(&named))
      return unload_result{false, std::move(*why), {}};
    flow->targets.push_back(std::get<registry_entry>(named));
  } else {
    for (auto& entry : *self->state.devices->snapshot())
      if (entry.handle)
        flow->targets.push_back(entry);
  }
  flow->request = std::move(request);
  flow->promise = self->make_response_promise<unload_result>();
  unload_next(self, flow);
  return flow->promise;
}

} // namespace

load_coordinator_actor::behavior_type load_coordinator(load_coordinator_pointer self,
                                                       std::shared_ptr<const device_registry> devices,
                                                       std::shared_ptr<const service_registry> services,
                                                       scanner_actor scanner) {
  self->state.devices = std::move(devices);
  self->state.services = std::move(services);
  self->state.scanner = std::move(scanner);
  self->set_down_handler([self](caf::down_msg& down) { self->state.watches.on_down(down); });
  return {
    [self](load_atom, load_request& request) { return start_load(self, request); },
    [self](unload_atom, unload_request& request) { return start_unload(self, request); },
    [self](drop_atom, std::uint64_t ticket) {
      auto& state = self->state;
      if (auto working = state.working.find(ticket); working != state.working.end())
        self->send(working->second, drop_atom::value, ticket);
      else if (state.started.count(ticket) > 0)
        state.dropped.insert(ticket); // not at a device yet: answered as cancelled when it gets there
    },
  };
}

} // namespace modeld::actors
