#include "protocol/metrics_page.hpp"

#include "protocol/status_metrics.hpp"

namespace modeld::protocol {

std::string metrics_page(const service_context& context) {
  auto families = status_families(context.status_from());
  context.requests.append_families(families);
  return metrics::render(families);
}

} // namespace modeld::protocol
