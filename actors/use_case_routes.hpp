// Requests for another node (issue 13): a load, unload or benchmark naming a joined node's
// device (NAME/ID), or a RAM cache command naming a joined node, is sent to that node's node
// actor (node.hpp) with the device's id there, and answered with its answer, whose device ids
// are made NAME/ID again. The node answers as its own front end would (its model roots, its RAM
// cache, its devices). Progress a node reports comes back through a relay actor of this node
// (stream: true), and a requester's drop (cancel, timeout, closed connection) is passed on to
// the node doing the work.
#pragma once

#include "actors/use_case_messages.hpp"
#include "actors/use_cases.hpp"

#include <optional>

namespace modeld::actors {

// The answer to come when `request` names a joined node's device; none for a device of this node.
std::optional<caf::result<load_result>> load_on_node(use_case_pointer self, const load_request& request);
std::optional<caf::result<unload_result>> unload_on_node(use_case_pointer self, const unload_request& request);
std::optional<caf::result<benchmark_result>> benchmark_on_node(use_case_pointer self, const benchmark_command& command);

// A lease no device of this node holds, given back on the joined nodes (asked one by one until
// one held it): `promise` is answered with that node's answer, or not released.
void release_on_nodes(use_case_pointer self, const std::string& lease_id,
                      caf::typed_response_promise<release_result> promise);

// The answer of the joined node `request.node` (not empty) to a RAM cache command.
caf::result<cache_report_result> cache_report_on_node(use_case_pointer self, cache_request request);
caf::result<cache_fill_result> cache_fill_on_node(use_case_pointer self, cache_request request);
caf::result<cache_evict_result> cache_evict_on_node(use_case_pointer self, cache_request request);

} // namespace modeld::actors
