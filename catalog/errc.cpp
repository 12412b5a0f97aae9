#include "catalog/errc.hpp"

namespace modeld {

std::string_view to_string(errc code) {
  switch (code) {
    case errc::none: return "none";
    case errc::model_not_found: return "model_not_found";
    case errc::path_not_allowed: return "path_not_allowed";
    case errc::unsupported_format: return "unsupported_format";
    case errc::model_already_loaded: return "model_already_loaded";
    case errc::model_not_loaded: return "model_not_loaded";
    case errc::insufficient_memory: return "insufficient_memory";
    case errc::conflict: return "conflict";
    case errc::device_unavailable: return "device_unavailable";
    case errc::device_not_found: return "device_not_found";
    case errc::cancelled: return "cancelled";
    case errc::invalid_request: return "invalid_request";
    case errc::internal: return "internal";
  }
  return "internal";
}

} // namespace modeld
