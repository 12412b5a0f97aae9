#include "metrics/histogram.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <limits>
#include <thread>
#include <vector>

using modeld::metrics::histogram;
using seconds = std::chrono::duration<double>;

namespace {
constexpr std::array<double, 3> bounds{0.1, 1, 10};
}

TEST_CASE("a value on a bound falls in that bound's bucket; buckets are cumulative", "[histogram]") {
  histogram h{bounds};
  for (double v : {0.05, 0.1, 0.5, 1.0, 5.0, 50.0, -1.0})
    h.observe(seconds(v));
  auto s = h.snapshot();
  CHECK(s.upper_bounds == std::vector<double>{0.1, 1, 10});
  // le=0.1: 0.05, 0.1 and the negative one (counted as 0); le=1: +0.5, 1; le=10: +5; +Inf: +50
  CHECK(s.cumulative == std::vector<std::uint64_t>{3, 5, 6, 7});
  CHECK(s.count == 7);
  CHECK(s.sum_seconds == Approx(0.05 + 0.1 + 0.5 + 1 + 5 + 50).epsilon(1e-9));
}

TEST_CASE("a NaN counts as 0 and a duration past the sum's range as its largest", "[histogram]") {
  histogram h{bounds};
  h.observe(seconds(std::numeric_limits<double>::quiet_NaN()));
  h.observe(seconds(1e30));
  auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{1, 1, 1, 2});
  CHECK(s.sum_seconds == Approx(1.8e10));
}

TEST_CASE("an empty histogram has zero buckets, sum and count", "[histogram]") {
  histogram h{bounds};
  auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{0, 0, 0, 0});
  CHECK(s.count == 0);
  CHECK(s.sum_seconds == 0);
}

TEST_CASE("observations from many threads are all counted", "[histogram]") {
  histogram h{bounds};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i)
        h.observe(seconds(0.001));
    });
  for (auto& t : threads)
    t.join();
  auto s = h.snapshot();
  CHECK(s.count == 40000);
  CHECK(s.cumulative.front() == 40000);
  CHECK(s.sum_seconds == Approx(40.0).epsilon(1e-6));
}
