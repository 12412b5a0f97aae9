#include "metrics/http_answer.hpp"

#include "metrics/exposition.hpp"

#include <exception>

namespace modeld::metrics {

http_answer answer_request(std::string_view method, std::string_view target, const std::function<std::string()>& page) {
  auto path = target.substr(0, target.find('?'));
  if (path != "/metrics")
    return {404, "text/plain; charset=utf-8", "not found: metrics are at /metrics\n", {}};
  if (method != "GET")
    return {405, "text/plain; charset=utf-8", "method not allowed: use GET\n", "GET"};
  try {
    return {200, std::string{exposition_content_type}, page(), {}};
  } catch (const std::exception& e) {
    return {500, "text/plain; charset=utf-8", std::string{"metrics could not be rendered: "} + e.what() + "\n", {}};
  }
}

} // namespace modeld::metrics
