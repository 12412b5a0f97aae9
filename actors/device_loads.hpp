// Loads and unloads of the device actor (its handlers call these).
#pragma once

#include "actors/device.hpp"

namespace modeld::actors {

using device_pointer = device_actor::stateful_pointer<device_state>;

caf::result<load_reply> start_load(device_pointer self, load_order& order);
unload_reply unload(device_pointer self, const unload_order& order);
// Gives a lease back (release, or its connection closed); a lease of a load still under way
// is never granted.
release_reply release_lease(device_pointer self, const std::string& lease_id);
// Unloads the models whose keep-alive ran out (none leased, none in use): on each heartbeat.
void expire_idle_models(device_pointer self);
// A use of a model the device holds (a benchmark of it): its keep-alive starts again.
void touch(device_state& state, const std::string& model_id);
void drop_load_waiter(device_pointer self, std::uint64_t ticket);

} // namespace modeld::actors
