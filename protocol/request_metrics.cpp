#include "protocol/request_metrics.hpp"

#include "protocol/commands.hpp"

#include <string>

namespace modeld::protocol {

request_metrics::request_metrics() : commands_(capabilities()) {
  commands_.push_back("unknown");
  counts_ = std::make_unique<std::atomic<std::uint64_t>[]>(commands_.size() * codes);
  for (std::size_t i = 0; i < commands_.size(); ++i)
    seconds_.emplace_back(request_seconds_buckets);
}

void request_metrics::record(const command_entry* command, const protocol_error* error,
                             std::chrono::duration<double> took) noexcept {
  const auto which = command != nullptr ? command_index(*command) : commands_.size() - 1;
  const auto code = error != nullptr ? 1 + static_cast<std::size_t>(error->code) : 0;
  counts_[which * codes + code].fetch_add(1, std::memory_order_relaxed);
  seconds_[which].observe(took);
}

request_metrics::totals request_metrics::sum() const noexcept {
  totals out;
  for (std::size_t c = 0; c < commands_.size(); ++c)
    for (std::size_t code = 0; code < codes; ++code) {
      auto count = counts_[c * codes + code].load(std::memory_order_relaxed);
      out.answered += count;
      if (code != 0)
        out.failed += count;
    }
  return out;
}

void request_metrics::append_families(std::vector<metrics::family>& out) const {
  metrics::family total{"modeld_requests_total",
                        "Requests answered, by command (\"unknown\": not a command modeld knows, or a line that "
                        "could not be read) and code (\"OK\" or the wire error code)",
                        metrics::metric_type::counter};
  metrics::family seconds{"modeld_request_seconds",
                          "Time from reading a request line to queueing its answer, by command",
                          metrics::metric_type::histogram};
  for (std::size_t c = 0; c < commands_.size(); ++c) {
    for (std::size_t code = 0; code < codes; ++code) {
      auto count = counts_[c * codes + code].load(std::memory_order_relaxed);
      if (count == 0)
        continue;
      std::string code_name{code == 0 ? std::string_view{"OK"} : to_string(static_cast<error_code>(code - 1))};
      total.samples.push_back({{{"command", std::string{commands_[c]}}, {"code", std::move(code_name)}},
                               static_cast<double>(count)});
    }
    auto snapshot = seconds_[c].snapshot();
    if (snapshot.count > 0)
      seconds.series.push_back({{{"command", std::string{commands_[c]}}}, std::move(snapshot)});
  }
  out.push_back(std::move(total));
  out.push_back(std::move(seconds));
}

} // namespace modeld::protocol
