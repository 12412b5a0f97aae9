// Where a load that names no device goes when this node joined others (issue 13): among every
// ready device of every node that answers, first those whose node holds the model in its RAM
// cache (a load from host memory), then those where the model fits without eviction, then the
// one with the most free memory; this node's devices before another node's where all else is
// equal. Pure: the use cases (use_case_routes.cpp) try the choices in this order, moving to
// the next node when one answers that it has no such model.
#pragma once

#include "actors/messages.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace modeld::actors {

struct placement_choice {
  std::string device_id; // NAME/ID for another node's device
  std::string node;      // empty: this node
  std::uint64_t free_bytes = 0;
  bool cached = false;   // its node holds the model in its RAM cache
  bool fits = false;     // the model's bytes (when known) fit in its free memory
  std::string reason;    // for the answer's placement.reason
};

// The ready devices of `status` (this node's and the joined nodes', NAME/ID) in the order to
// try; `caching_nodes` names the nodes whose RAM cache holds the model ("" for this node);
// `model_bytes` is the file's size as this node's catalog has it, when it has the file.
std::vector<placement_choice> placement_order(const cluster_status& status, const std::set<std::string>& caching_nodes,
                                              std::optional<std::uint64_t> model_bytes);

} // namespace modeld::actors
