// Loads and unloads of the device actor (its handlers call these).
#pragma once

#include "actors/device.hpp"

namespace modeld::actors {

using device_pointer = device_actor::stateful_pointer<device_state>;

caf::result<load_reply> start_load(device_pointer self, load_order& order);
unload_reply unload(device_pointer self, const std::string& model_id);
void drop_load_waiter(device_pointer self, std::uint64_t ticket);

} // namespace modeld::actors
