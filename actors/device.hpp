// The device actor: one per GPU or virtual CPU device.
#pragma once

#include "actors/actors.hpp"
#include "gpu/memory_account.hpp"

#include <vector>

namespace modeld::actors {

struct device_state {
  static inline const char* name = "device";
  device_info info;
  gpu::memory_account memory;
  std::vector<loaded_model> models;
  std::uint64_t loads = 0;
  std::uint64_t unloads = 0;
  std::uint64_t evictions = 0;
};

device_status make_device_status(const device_state& state);

device_actor::behavior_type device(device_actor::stateful_pointer<device_state> self, device_info info);

} // namespace modeld::actors
