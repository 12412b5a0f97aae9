#include "metrics/exposition.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <limits>

using namespace modeld::metrics;

TEST_CASE("every family gets HELP and TYPE lines, even without samples", "[exposition]") {
  std::vector<family> families{
    {"modeld_up", "Whether modeld runs", metric_type::gauge, {{{}, 1}}, {}},
    {"modeld_requests_total", "Requests", metric_type::counter, {}, {}},
  };
  CHECK(render(families) == "# HELP modeld_up Whether modeld runs\n"
                            "# TYPE modeld_up gauge\n"
                            "modeld_up 1\n"
                            "# HELP modeld_requests_total Requests\n"
                            "# TYPE modeld_requests_total counter\n");
}

TEST_CASE("label values escape backslash, double quote and line feed; HELP escapes backslash and line feed",
          "[exposition]") {
  std::vector<family> families{{"m", "a \\ b\nc \"q\"", metric_type::gauge,
                                {{{{"device", "cpu:0"}, {"odd", "a\\b\"c\nd"}}, 2}}, {}}};
  CHECK(render(families) == "# HELP m a \\\\ b\\nc \"q\"\n"
                            "# TYPE m gauge\n"
                            "m{device=\"cpu:0\",odd=\"a\\\\b\\\"c\\nd\"} 2\n");
}

TEST_CASE("values: integers exactly, fractions in shortest form, non-finite as the format spells them",
          "[exposition]") {
  auto line = [](double value) {
    auto text = render({{"v", "h", metric_type::gauge, {{{}, value}}, {}}});
    return text.substr(text.rfind("v ") + 2);
  };
  CHECK(line(0) == "0\n");
  CHECK(line(1073741824) == "1073741824\n");
  CHECK(line(141733920768.0) == "141733920768\n");
  CHECK(line(0.25) == "0.25\n");
  CHECK(line(0.0001) == "0.0001\n");
  CHECK(line(0.00025) == "0.00025\n");
  CHECK(line(0.00005) == "5e-05\n");
  CHECK(line(1.5e22) == "1.5e+22\n");
  CHECK(line(-3) == "-3\n");
  CHECK(line(std::numeric_limits<double>::infinity()) == "+Inf\n");
  CHECK(line(-std::numeric_limits<double>::infinity()) == "-Inf\n");
  CHECK(line(std::numeric_limits<double>::quiet_NaN()) == "NaN\n");
}

TEST_CASE("a histogram renders cumulative buckets ending in +Inf, then _sum and _count", "[exposition]") {
  static constexpr std::array<double, 3> bounds{0.01, 0.5, 2};
  histogram h{bounds};
  for (double v : {0.005, 0.3, 0.4, 1.5, 7.0})
    h.observe(std::chrono::duration<double>(v));
  family f{"modeld_load_seconds", "Load durations", metric_type::histogram, {}, {}};
  f.series.push_back({{{"device", "cpu:0"}, {"from_cache", "false"}}, h.snapshot()});
  auto text = render({f});
  auto sum_line = text.substr(text.find("modeld_load_seconds_sum"));
  CHECK(text.substr(0, text.find("modeld_load_seconds_sum")) ==
        "# HELP modeld_load_seconds Load durations\n"
        "# TYPE modeld_load_seconds histogram\n"
        "modeld_load_seconds_bucket{device=\"cpu:0\",from_cache=\"false\",le=\"0.01\"} 1\n"
        "modeld_load_seconds_bucket{device=\"cpu:0\",from_cache=\"false\",le=\"0.5\"} 3\n"
        "modeld_load_seconds_bucket{device=\"cpu:0\",from_cache=\"false\",le=\"2\"} 4\n"
        "modeld_load_seconds_bucket{device=\"cpu:0\",from_cache=\"false\",le=\"+Inf\"} 5\n");
  auto prefix = std::string{"modeld_load_seconds_sum{device=\"cpu:0\",from_cache=\"false\"} "};
  REQUIRE(sum_line.rfind(prefix, 0) == 0);
  CHECK(std::stod(sum_line.substr(prefix.size())) == Approx(0.005 + 0.3 + 0.4 + 1.5 + 7.0).epsilon(1e-9));
  CHECK(text.substr(text.find("modeld_load_seconds_count")) ==
        "modeld_load_seconds_count{device=\"cpu:0\",from_cache=\"false\"} 5\n");
}

TEST_CASE("a histogram without labels gets only le on its buckets", "[exposition]") {
  static constexpr std::array<double, 1> bounds{0.00005};
  histogram h{bounds};
  h.observe(std::chrono::duration<double>(0.00001));
  family f{"t", "h", metric_type::histogram, {}, {}};
  f.series.push_back({{}, h.snapshot()});
  auto text = render({f});
  CHECK(text.find("t_bucket{le=\"5e-05\"} 1\n") != std::string::npos);
  CHECK(text.find("t_bucket{le=\"+Inf\"} 1\n") != std::string::npos);
  CHECK(text.find("t_count 1\n") != std::string::npos);
}
