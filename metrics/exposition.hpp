// The Prometheus text exposition format, version 0.0.4: families of samples rendered as
// `# HELP`, `# TYPE` and one line per sample, histograms as cumulative `_bucket{le=...}`
// lines ending in le="+Inf", then `_sum` and `_count`. Label values and help texts are escaped
// as the format asks, so any device id or state reads back as it was.
#pragma once

#include "metrics/histogram.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace modeld::metrics {

inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class metric_type { counter, gauge, histogram };

struct label {
  std::string name;  // a constant of the metric: [a-zA-Z_][a-zA-Z0-9_]*
  std::string value; // anything; escaped when rendered
};

struct sample {
  std::vector<label> labels;
  double value = 0;
};

struct histogram_series {
  std::vector<label> labels; // `le` is added per bucket
  histogram_snapshot data;
};

struct family {
  std::string name;
  std::string help;
  metric_type type = metric_type::gauge;
  std::vector<sample> samples = {};          // counters and gauges
  std::vector<histogram_series> series = {}; // histograms
};

// Every family with its HELP and TYPE lines, even one without samples yet.
std::string render(const std::vector<family>& families);

} // namespace modeld::metrics
