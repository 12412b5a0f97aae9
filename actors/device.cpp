#include "actors/device.hpp"

#include "actors/device_benchmarks.hpp"
#include "actors/device_loads.hpp"
#include "gpu/devices.hpp"

#include <caf/sec.hpp>

namespace modeld::actors {
namespace {

using self_pointer = device_actor::stateful_pointer<device_state>;

// The reserved id that releases every answer held by a hang.
constexpr std::uint64_t end_of_hang = 0;

// Holds the answer to a status request until `resume_atom` releases it: now + delay, or
// the end of the hang.
caf::result<device_status> held_answer(self_pointer self, std::chrono::milliseconds delay, bool until_hang_ends) {
  auto promise = self->make_response_promise<device_status>();
  auto id = ++self->state.next_held;
  self->state.held.emplace(id, promise);
  if (!until_hang_ends)
    self->delayed_send(self, delay, resume_atom::value, id);
  return promise;
}

caf::result<ok_atom> inject(self_pointer self, const fault_request& fault) {
  auto duration = std::chrono::milliseconds(fault.duration_ms);
  auto now = self->clock().now();
  if (fault.mode == "crash") {
    self->quit(caf::make_error(caf::sec::runtime_error, "injected crash"));
    return ok_atom::value;
  }
  if (fault.mode == "hang") {
    self->state.hang_until = now + duration;
    self->delayed_send(self, duration, resume_atom::value, end_of_hang);
    return ok_atom::value;
  }
  if (fault.mode == "slow") {
    self->state.slow_until = now + duration;
    return ok_atom::value;
  }
  if (fault.mode == "oom") {
    self->state.oom_until = now + duration;
    return ok_atom::value;
  }
  return caf::make_error(caf::sec::unexpected_message, "unknown fault mode " + fault.mode);
}

void resume(self_pointer self, std::uint64_t id) {
  auto& held = self->state.held;
  if (id == end_of_hang) {
    if (self->clock().now() < self->state.hang_until)
      return; // a later hang extended this one
    for (auto& [held_id, promise] : held)
      promise.deliver(make_device_status(self->state));
    held.clear();
    return;
  }
  if (auto it = held.find(id); it != held.end()) {
    it->second.deliver(make_device_status(self->state));
    held.erase(it);
  }
}

} // namespace

device_status make_device_status(const device_state& state) {
  device_status status;
  status.device_id = state.info.id;
  status.state = state.loading.empty() && state.benchmarks_running == 0 ? "ready" : "busy";
  status.total_bytes = state.memory.total();
  status.used_bytes = state.memory.used();
  status.free_bytes = state.memory.free();
  status.budget_bytes = state.memory.budget();
  status.allocator_reserve_bytes = state.memory.allocator_reserve();
  for (auto& [id, model] : state.resident)
    status.loaded_models.push_back(model.info);
  status.loads = state.loads;
  status.unloads = state.unloads;
  status.evictions = state.evictions;
  status.cache_hits = state.cache_hits;
  status.load_time_ms_total = state.load_time_ms_total;
  return status;
}

void measure_allocator_reserve(device_state& state) {
  if (state.info.kind == "cuda")
    state.memory.set_allocator_reserve(gpu::allocator_reserve_bytes(state.info.index));
}

std::string torch_device(const device_info& info) {
  return info.kind == "cpu" ? std::string{"cpu"} : "cuda:" + std::to_string(info.index);
}

device_actor::behavior_type device(self_pointer self, device_info info) {
  self->state.memory = gpu::memory_account{info.total_bytes, info.budget_bytes};
  self->state.info = std::move(info);
  return {
    [self](status_atom) -> caf::result<device_status> {
      auto now = self->clock().now();
      if (now < self->state.hang_until)
        return held_answer(self, {}, true);
      if (now < self->state.slow_until)
        return held_answer(self, slow_answer_delay, false);
      measure_allocator_reserve(self->state);
      return make_device_status(self->state);
    },
    [self](fault_atom, const fault_request& fault) { return inject(self, fault); },
    [self](resume_atom, std::uint64_t id) { resume(self, id); },
    [self](load_atom, load_order& order) { return start_load(self, order); },
    [self](unload_atom, const std::string& model_id) { return unload(self, model_id); },
    [self](drop_atom, std::uint64_t ticket) { drop_load_waiter(self, ticket); },
    [self](benchmark_atom, benchmark_order& order) { return start_benchmark(self, order); },
  };
}

} // namespace modeld::actors
