#include "metrics/histogram.hpp"

#include <algorithm>

namespace modeld::metrics {

histogram::histogram(std::span<const double> upper_bounds)
  : bounds_(upper_bounds), counts_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds.size() + 1)) {}

void histogram::observe(std::chrono::duration<double> took) noexcept {
  // Within what the nanosecond sum can hold, so the conversion below is always defined (a NaN
  // counts as 0 too).
  constexpr double longest = 1.8e10; // seconds, just under 2^64 ns
  const double seconds = std::min(std::max(0.0, took.count()), longest);
  // Buckets are `le` (less or equal): the first bound not below the value takes it.
  auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

histogram_snapshot histogram::snapshot() const {
  histogram_snapshot out;
  out.upper_bounds.assign(bounds_.begin(), bounds_.end());
  out.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    out.cumulative.push_back(running);
  }
  // The count is the +Inf bucket of this same read, so the two always agree; the sum may be a
  // few observations apart while they are recorded, which the format tolerates.
  out.count = running;
  out.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return out;
}

} // namespace modeld::metrics
