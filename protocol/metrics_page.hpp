// The page GET /metrics serves: the status families, then the request families, in the
// Prometheus text format. Reads published state and atomic counters only, so it is safe on
// the metrics listener's thread and never waits on an actor.
#pragma once

#include "protocol/commands.hpp"

#include <string>

namespace modeld::protocol {

std::string metrics_page(const service_context& context);

} // namespace modeld::protocol
