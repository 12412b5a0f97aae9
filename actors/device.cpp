#include "actors/device.hpp"

namespace modeld::actors {

device_status make_device_status(const device_state& state) {
  device_status status;
  status.device_id = state.info.id;
  status.state = "ready";
  status.total_bytes = state.memory.total();
  status.used_bytes = state.memory.used();
  status.free_bytes = state.memory.free();
  status.budget_bytes = state.memory.budget();
  status.loaded_models = state.models;
  status.loads = state.loads;
  status.unloads = state.unloads;
  status.evictions = state.evictions;
  return status;
}

device_actor::behavior_type device(device_actor::stateful_pointer<device_state> self, device_info info) {
  self->state.memory = gpu::memory_account{info.total_bytes, info.budget_bytes};
  self->state.info = std::move(info);
  return {
    [self](status_atom) { return make_device_status(self->state); },
  };
}

} // namespace modeld::actors
