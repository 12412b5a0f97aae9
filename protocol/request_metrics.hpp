// Requests by command and outcome, and their durations by command (modeld_requests_total,
// modeld_request_seconds), recorded by the sessions where each request is answered. The label
// set is bounded: the command table's names plus "unknown" (a line whose command is not one of
// them, or could not be read), and "OK" or one of the wire error codes. Recording is a few
// relaxed atomic adds into fixed tables, cheap enough for the request path.
#pragma once

#include "metrics/exposition.hpp"
#include "metrics/histogram.hpp"
#include "protocol/errors.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

namespace modeld::protocol {

struct command_entry;

// Upper bounds (seconds): a ping is answered in tens of microseconds, a load of a large
// checkpoint in minutes.
inline constexpr std::array<double, 20> request_seconds_buckets{
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
  0.1,     0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    120};

class request_metrics {
public:
  request_metrics();

  // `command`: null for a line whose command is unknown or could not be read; `error`: null
  // for a success.
  void record(const command_entry* command, const protocol_error* error, std::chrono::duration<double> took) noexcept;

  // Requests answered so far, and those of them answered with an error (get_model_status's
  // `requests`): a sum over the table, read by a status rendering, not on the request path.
  struct totals {
    std::uint64_t answered = 0, failed = 0;
  };
  totals sum() const noexcept;

  // modeld_requests_total and modeld_request_seconds; only the commands and codes seen so far
  // have series (the label set is bounded, but hundreds of zeros would bury the rest).
  void append_families(std::vector<metrics::family>& out) const;

private:
  static constexpr std::size_t codes = error_code_count + 1; // "OK", then each error code

  std::vector<std::string_view> commands_;              // capabilities(), then "unknown"
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // [command * codes + code]
  std::deque<metrics::histogram> seconds_;              // per command (a deque: histograms do not move)
};

} // namespace modeld::protocol
