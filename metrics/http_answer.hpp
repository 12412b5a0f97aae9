// What the metrics listener answers, decided without sockets: GET /metrics is the page, any
// other path 404, another method on /metrics 405 (with Allow: GET).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace modeld::metrics {

struct http_answer {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::string allow; // 405 only: the methods /metrics takes
};

// `page` renders the metrics (called for GET /metrics only); an exception from it is a 500.
// A query string is ignored (`/metrics?x=1` is the page).
http_answer answer_request(std::string_view method, std::string_view target, const std::function<std::string()>& page);

} // namespace modeld::metrics
