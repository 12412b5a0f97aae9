// Loads and unloads of another node's device (NAME/ID, issue 13): sent to that node's node
// actor (node.hpp) with the device's id there, answered with its answer, whose device ids are
// made NAME/ID again. The node answers as its own front end would (its model roots, its RAM
// cache, its devices); progress events and a requester's cancel do not cross nodes.
#pragma once

#include "actors/use_case_messages.hpp"
#include "actors/use_cases.hpp"

#include <optional>

namespace modeld::actors {

// The answer to come when `request` names a joined node's device; none for a device of this node.
std::optional<caf::result<load_result>> load_on_node(use_case_pointer self, const load_request& request);
std::optional<caf::result<unload_result>> unload_on_node(use_case_pointer self, const unload_request& request);

} // namespace modeld::actors
