// inject_fault: crash, hang or slow a device actor, for fault-injection tests of restarts
// and degraded status. Refused unless modeld runs with --enable-fault-injection.
#pragma once

#include "protocol/commands.hpp"

namespace modeld::protocol {

asio::awaitable<command_result> inject_fault(service_context& context, request& req);

} // namespace modeld::protocol
