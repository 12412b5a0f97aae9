// Why work modeld was asked to do did not happen: one enum for every layer below the wire.
// Actors answer with these values (in a `failure`, a `scan_error`, or a caf::error of the
// `modeld` category, see actors/errors.hpp); protocol/errors.cpp maps each to its wire code in
// one table. Nothing matches on message text.
#pragma once

#include <cstdint>
#include <string_view>

namespace modeld {

enum class errc : std::uint8_t {
  none = 0, // CAF reads code 0 as "no error"
  model_not_found,      // no such model, or its file is gone or unreadable
  path_not_allowed,     // outside the model roots, or a link that leaves them
  unsupported_format,   // not a model format modeld reads, or it failed validation
  model_already_loaded,
  model_not_loaded,
  insufficient_memory,  // the device's (or the host's) memory cannot take it
  conflict,             // another change got there first (a revision, a fault already running)
  device_unavailable,   // restarting, failed, or gone while it held the request
  device_not_found,     // no device of that id
  cancelled,            // its requester went away, or an unload overtook a load
  invalid_request,      // the request itself cannot be done as asked
  internal,             // anything else: a bug, an I/O error, a crashed component
};

// A short name for logs and renderings ("insufficient_memory").
std::string_view to_string(errc code);

} // namespace modeld
