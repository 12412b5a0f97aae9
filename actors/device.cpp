#include "actors/device.hpp"

#include <algorithm>

#include "actors/device_benchmarks.hpp"
#include "actors/device_loads.hpp"
#include "actors/epoch.hpp"
#include "gpu/devices.hpp"

namespace modeld::actors {
namespace {

using self_pointer = device_actor::stateful_pointer<device_state>;

caf::result<ok_atom> inject(self_pointer self, const fault_request& fault) {
  if (fault.mode == "oom") {
    self->state.oom_until = self->clock().now() + std::chrono::milliseconds(fault.duration_ms);
    return ok_atom::value;
  }
  auto result = inject_service_fault(self, fault); // crash, hang, slow: as for the services
  if (fault.mode == "hang" && result.flag == caf::rt_value) // it will not answer: readers see it unresponsive now, not a deadline later
    self->state.board->silent_until(self->address(), self->state.info.id, epoch_ms() + fault.duration_ms);
  return result;
}

// Tells the board this incarnation is alive (and how much its allocator holds), then comes
// again; a hung device stops, and readers see it unresponsive once the deadline has passed.
void heartbeat(self_pointer self) {
  expire_idle_models(self);
  auto reserve = self->state.memory.allocator_reserve();
  measure_allocator_reserve(self->state);
  if (self->state.memory.allocator_reserve() != reserve)
    publish_status(self);
  else
    self->state.board->heard(self->address(), self->state.info.id);
  self->delayed_send(self, self->state.board->heartbeat_period(), heartbeat_atom::value);
}

} // namespace

device_status make_device_status(const device_state& state) {
  device_status status;
  status.device_id = state.info.id;
  status.state = state.loading.empty() && state.benchmarks.empty() ? "ready" : "busy";
  status.total_bytes = state.memory.total();
  status.used_bytes = state.memory.used();
  status.free_bytes = state.memory.free();
  status.budget_bytes = state.memory.budget();
  status.allocator_reserve_bytes = state.memory.allocator_reserve();
  for (auto& [id, model] : state.resident) {
    status.loaded_models.push_back(model.info);
    auto& shown = status.loaded_models.back();
    shown.reload_ms = reload_ms(model, false);
    if (model.info.keep_alive_ms >= 0 && model.info.leases.empty())
      shown.expires_at_ms = model.info.last_used_ms + model.info.keep_alive_ms;
    status.logical_bytes += model.info.bytes;
  }
  // A copy's users include loads still under way: only loaded models count here.
  for (auto& [key, copy] : state.copies) {
    shared_component shared{copy.identity, copy.component, copy.bytes, {}};
    for (auto& user : copy.users)
      if (state.resident.count(user) > 0)
        shared.models.push_back(user);
    if (shared.models.size() < 2)
      continue;
    status.shared_bytes_saved += copy.bytes * (shared.models.size() - 1);
    for (auto& shown : status.loaded_models)
      if (std::find(shared.models.begin(), shared.models.end(), shown.model_id) != shared.models.end())
        shown.shared_components.push_back(copy.component);
    status.shared_components.push_back(std::move(shared));
  }
  status.loads = state.loads;
  status.unloads = state.unloads;
  status.evictions = state.evictions;
  status.cache_hits = state.cache_hits;
  status.failed_loads = state.failed_loads;
  status.expirations = state.expirations;
  status.load_time_ms_total = state.load_time_ms_total;
  return status;
}

device_state::~device_state() {
  for (auto& [id, load] : loading)
    load.cancel->store(true);
  for (auto& [ticket, benchmark] : benchmarks)
    benchmark.cancel->store(true);
}

memory_shortfall shortfall(const device_state& state, std::uint64_t needed) {
  return {"device", needed, state.memory.free(), state.memory.budget()};
}

void measure_allocator_reserve(device_state& state) {
  if (state.info.kind == "cuda")
    state.memory.set_allocator_reserve(gpu::allocator_reserve_bytes(state.info.index));
}

std::string torch_device(const device_info& info) {
  return info.kind == "cpu" ? std::string{"cpu"} : "cuda:" + std::to_string(info.index);
}

device_actor::behavior_type device(self_pointer self, device_info info, std::shared_ptr<device_board> board,
                                   worker_pools pools) {
  self->state.memory = gpu::memory_account{info.total_bytes, info.budget_bytes};
  self->state.info = std::move(info);
  self->state.board = std::move(board);
  self->state.pools = std::move(pools);
  publish_status(self);
  self->delayed_send(self, self->state.board->heartbeat_period(), heartbeat_atom::value);
  // Each handler that changes what status shows publishes the change before it returns.
  auto published = [self](auto result) {
    publish_status(self);
    return result;
  };
  return {
    [self](status_atom) -> caf::result<device_status> {
      measure_allocator_reserve(self->state);
      publish_status(self);
      return make_device_status(self->state);
    },
    [self](heartbeat_atom) { heartbeat(self); },
    [self](fault_atom, const fault_request& fault) { return inject(self, fault); },
    [published, self](load_atom, load_order& order) { return published(start_load(self, order)); },
    [published, self](unload_atom, const unload_order& order) { return published(unload(self, order)); },
    [published, self](release_atom, const std::string& lease_id) { return published(release_lease(self, lease_id)); },
    [self](drop_atom, std::uint64_t ticket) {
      drop_load_waiter(self, ticket);
      drop_benchmark(self, ticket);
      publish_status(self);
    },
    [published, self](benchmark_atom, benchmark_order& order) { return published(start_benchmark(self, order)); },
  };
}

} // namespace modeld::actors
