#include "protocol/errors.hpp"

namespace modeld::protocol {

std::string_view to_string(error_code code) {
  switch (code) {
    case error_code::invalid_json: return "INVALID_JSON";
    case error_code::frame_too_large: return "FRAME_TOO_LARGE";
    case error_code::invalid_request: return "INVALID_REQUEST";
    case error_code::unknown_command: return "UNKNOWN_COMMAND";
    case error_code::unauthenticated: return "UNAUTHENTICATED";
    case error_code::model_not_found: return "MODEL_NOT_FOUND";
    case error_code::device_not_found: return "DEVICE_NOT_FOUND";
    case error_code::path_not_allowed: return "PATH_NOT_ALLOWED";
    case error_code::unsupported_format: return "UNSUPPORTED_FORMAT";
    case error_code::model_already_loaded: return "MODEL_ALREADY_LOADED";
    case error_code::model_not_loaded: return "MODEL_NOT_LOADED";
    case error_code::insufficient_memory: return "INSUFFICIENT_MEMORY";
    case error_code::conflict: return "CONFLICT";
    case error_code::device_unavailable: return "DEVICE_UNAVAILABLE";
    case error_code::overloaded: return "OVERLOADED";
    case error_code::timeout: return "TIMEOUT";
    case error_code::cancelled: return "CANCELLED";
    case error_code::fault_injection_disabled: return "FAULT_INJECTION_DISABLED";
    case error_code::internal: return "INTERNAL";
  }
  return "INTERNAL";
}

protocol_error invalid_field(std::string_view field, std::string message) {
  protocol_error error{error_code::invalid_request, std::move(message)};
  error.details["field"] = field;
  return error;
}

error_code wire_code(errc code) {
  switch (code) {
    case errc::model_not_found: return error_code::model_not_found;
    case errc::path_not_allowed: return error_code::path_not_allowed;
    case errc::unsupported_format: return error_code::unsupported_format;
    case errc::model_already_loaded: return error_code::model_already_loaded;
    case errc::model_not_loaded: return error_code::model_not_loaded;
    case errc::insufficient_memory: return error_code::insufficient_memory;
    case errc::conflict: return error_code::conflict;
    case errc::device_unavailable: return error_code::device_unavailable;
    case errc::device_not_found: return error_code::device_not_found;
    case errc::cancelled: return error_code::cancelled;
    case errc::invalid_request: return error_code::invalid_request;
    case errc::none:
    case errc::internal: return error_code::internal;
  }
  return error_code::internal;
}

} // namespace modeld::protocol
