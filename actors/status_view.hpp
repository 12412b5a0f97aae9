// Status of every device (or one), read from the registry and the device board: no device is
// asked, so the answer is immediate and the same whether devices are busy, hung or restarting.
// A device not heard from within the status deadline is unresponsive and shown as it last
// reported, with that report's age; one that is restarting or failed shows only its counters,
// carried across restarts so they never go backwards.
#pragma once

#include "actors/messages.hpp"
#include "actors/peer_board.hpp"
#include "actors/registry.hpp"

#include <cstdint>
#include <string_view>

namespace modeld::actors {

// Every device when `device_id` is empty, those of the nodes joined (the registry's peer board,
// ids NAME/ID) after this node's own; `now_ms`: Unix epoch milliseconds.
cluster_status read_status(const device_registry& registry, std::string_view device_id, std::int64_t now_ms);

// This node's own devices only: what it tells the nodes that joined it, and what a load here
// is placed on.
cluster_status read_local_status(const device_registry& registry, std::string_view device_id, std::int64_t now_ms);

} // namespace modeld::actors
