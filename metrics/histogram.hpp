// A Prometheus histogram of durations: fixed upper bounds, one atomic count per bucket and an
// atomic sum. Recording is a few relaxed atomic adds and no lock, so it can sit on the request
// path; a reader takes a snapshot whose buckets are cumulative, as the text format wants.
// No CAF, no Asio, no torch: anything may record into one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace modeld::metrics {

struct histogram_snapshot {
  std::vector<double> upper_bounds;       // finite, increasing; the +Inf bucket is implied
  std::vector<std::uint64_t> cumulative;  // one per bound, then the +Inf bucket (== count)
  double sum_seconds = 0;
  std::uint64_t count = 0;
};

class histogram {
public:
  // `upper_bounds` (seconds, increasing, finite) must outlive the histogram: the bucket
  // layouts are constants of the metrics that use them.
  explicit histogram(std::span<const double> upper_bounds);
  histogram(const histogram&) = delete;
  histogram& operator=(const histogram&) = delete;

  // One observation; a negative duration counts as 0, one over 570 years as 570 years.
  void observe(std::chrono::duration<double> took) noexcept;
  histogram_snapshot snapshot() const;

private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // per bucket, not cumulative; last: +Inf
  // Nanoseconds: an integer sum is one atomic add (a double would need a compare-exchange loop).
  std::atomic<std::uint64_t> sum_ns_{0};
};

} // namespace modeld::metrics
