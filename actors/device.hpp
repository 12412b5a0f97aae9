// The device actor: one per GPU or virtual CPU device.
#pragma once

#include "actors/actors.hpp"
#include "gpu/memory_account.hpp"

#include <caf/actor_clock.hpp>
#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <map>
#include <vector>

namespace modeld::actors {

// How long each answer waits while a `slow` fault is active.
inline constexpr std::chrono::milliseconds slow_answer_delay{100};

struct device_state {
  static inline const char* name = "device";
  device_info info;
  gpu::memory_account memory;
  std::vector<loaded_model> models;
  std::uint64_t loads = 0;
  std::uint64_t unloads = 0;
  std::uint64_t evictions = 0;

  // Injected faults: answers are held until hang_until or delayed until slow_until.
  caf::actor_clock::time_point hang_until{};
  caf::actor_clock::time_point slow_until{};
  std::uint64_t next_held = 0;
  std::map<std::uint64_t, caf::typed_response_promise<device_status>> held; // bounded by callers' caps
};

device_status make_device_status(const device_state& state);

device_actor::behavior_type device(device_actor::stateful_pointer<device_state> self, device_info info);

} // namespace modeld::actors
