// `stream: true`: progress events of long work (validate, load, benchmark) as PROTOCOL.md shows
// them: {"request_id", "event": "progress", "stage", "done_bytes", "total_bytes", "progress"}.
#pragma once

#include "actors/catalog_messages.hpp"
#include "protocol/envelope.hpp"

#include <memory>

namespace modeld::protocol {

// A sink that sends the request's progress events; null when it did not ask for them.
// Callable from any thread (events are posted to the session's strand).
std::shared_ptr<const actors::progress_sink> progress_for(const request& req);

} // namespace modeld::protocol
