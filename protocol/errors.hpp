// Error codes of the wire protocol (PROTOCOL.md, "Error codes") and the error value every
// failing request turns into.
#pragma once

#include "catalog/errc.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace modeld::protocol {

enum class error_code {
  invalid_json,
  frame_too_large,
  invalid_request,
  unknown_command,
  unauthenticated,
  model_not_found,
  device_not_found,
  path_not_allowed,
  unsupported_format,
  model_already_loaded,
  model_not_loaded,
  insufficient_memory,
  conflict,
  device_unavailable,
  overloaded,
  timeout,
  cancelled,
  fault_injection_disabled,
  internal, // stays the last: error_code_count
};

// How many codes there are: the size of tables indexed by code (the request metrics).
inline constexpr std::size_t error_code_count = static_cast<std::size_t>(error_code::internal) + 1;

// The wire spelling, e.g. "FRAME_TOO_LARGE".
std::string_view to_string(error_code code);

// The wire code of an actor's typed error: the one table between the two.
error_code wire_code(errc code);

struct protocol_error {
  error_code code;
  std::string message;
  boost::json::object details = {};
};

// INVALID_REQUEST naming the offending field in details.field, as PROTOCOL.md asks.
protocol_error invalid_field(std::string_view field, std::string message);

} // namespace modeld::protocol
