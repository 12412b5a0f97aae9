// The eviction policy alone: which resident models go so that a load fits.
#include "gpu/eviction_policy.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using namespace modeld::gpu;

constexpr std::uint64_t MiB = 1024 * 1024;

eviction_candidate model(std::string id, std::uint64_t mib, std::int64_t idle_ms, double reload_ms) {
  eviction_candidate c;
  c.model_id = std::move(id);
  c.bytes = mib * MiB;
  c.idle_ms = idle_ms;
  c.reload_ms = reload_ms;
  return c;
}

std::vector<std::string> ids(const eviction_plan& plan) {
  std::vector<std::string> out;
  for (auto& c : plan.chosen)
    out.push_back(c.model_id);
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("a load that fits evicts nothing", "[eviction]") {
  auto plan = plan_eviction({model("a", 100, 0, 10)}, 200 * MiB, 150 * MiB, eviction_rule::cost);
  CHECK(plan.fits);
  CHECK(plan.chosen.empty());
}

TEST_CASE("expected cost falls with idle time and grows with uses", "[eviction]") {
  CHECK(expected_cost_ms(model("a", 1, 0, 1000)) == Approx(1000));
  CHECK(expected_cost_ms(model("a", 1, 1000, 1000)) == Approx(500));
  CHECK(expected_cost_ms(model("a", 1, 9000, 1000)) == Approx(100));
  auto used = model("a", 1, 1000, 1000);
  used.uses = 6;
  CHECK(expected_cost_ms(used) == Approx(3000));
}

TEST_CASE("cost keeps a model used often over one used once, at the same reload per byte", "[eviction]") {
  // A hot 4-byte-per-ms big model and a cold small one: lru and a plain per-byte rule would
  // take the big one (older); its uses make it dear.
  auto hot = model("hot", 400, 2'000, 400);
  hot.uses = 20;
  std::vector<eviction_candidate> resident{hot, model("cold", 100, 1'000, 100), model("cold2", 100, 1'000, 100)};
  CHECK(ids(plan_eviction(resident, 0, 150 * MiB, eviction_rule::lru)) == std::vector<std::string>{"hot"});
  CHECK(ids(plan_eviction(resident, 0, 150 * MiB, eviction_rule::cost)) == std::vector<std::string>{"cold", "cold2"});
}

TEST_CASE("lru takes the longest idle first; cost keeps a model that is dear to reload", "[eviction]") {
  // "old" is idle longest but takes 20 s to come back (not in the RAM cache); "cheap" was used
  // a little more recently and comes back from the RAM cache in 50 ms.
  std::vector<eviction_candidate> resident{model("old", 100, 60'000, 20'000), model("cheap", 100, 30'000, 50),
                                           model("fresh", 100, 100, 50)};
  auto lru = plan_eviction(resident, 0, 100 * MiB, eviction_rule::lru);
  CHECK(ids(lru) == std::vector<std::string>{"old"});
  auto cost = plan_eviction(resident, 0, 100 * MiB, eviction_rule::cost);
  CHECK(ids(cost) == std::vector<std::string>{"cheap"});
  REQUIRE(cost.chosen.size() == 1);
  CHECK(cost.chosen[0].reload_ms == 50);
  CHECK(cost.chosen[0].idle_ms == 30'000);
  CHECK(cost.freed_bytes == 100 * MiB);
}

TEST_CASE("cost frees enough with the cheapest set, not more than needed", "[eviction]") {
  // 150 MiB missing: the two small long-idle models cost least per byte and are enough; the
  // big one and the fresh one stay.
  std::vector<eviction_candidate> resident{model("big", 200, 10'000, 1'000), model("s1", 80, 50'000, 100),
                                           model("s2", 80, 50'000, 100), model("s3", 80, 1'000, 5'000)};
  auto plan = plan_eviction(resident, 0, 150 * MiB, eviction_rule::cost);
  CHECK(plan.fits);
  CHECK(ids(plan) == std::vector<std::string>{"s1", "s2"});
  CHECK(plan.freed_bytes == 160 * MiB);
}

TEST_CASE("cost puts back what the set does not need", "[eviction]") {
  // Greedy by cost per byte takes a, b, then big; with big in, a and b are not needed.
  std::vector<eviction_candidate> resident{model("a", 100, 0, 10), model("b", 100, 0, 10), model("big", 300, 0, 60),
                                           model("c", 100, 0, 1'000)};
  auto plan = plan_eviction(resident, 0, 300 * MiB, eviction_rule::cost);
  CHECK(ids(plan) == std::vector<std::string>{"big"});
}

TEST_CASE("one model that frees enough alone beats a dearer set", "[eviction]") {
  // By cost per byte the greedy set is c then a (290 ms for 300 MiB); big alone frees enough
  // for 260 ms.
  std::vector<eviction_candidate> resident{model("c", 200, 0, 190), model("a", 100, 0, 100), model("b", 100, 0, 100),
                                           model("big", 260, 0, 260)};
  auto plan = plan_eviction(resident, 0, 250 * MiB, eviction_rule::cost);
  CHECK(ids(plan) == std::vector<std::string>{"big"});
}

TEST_CASE("pinned, leased and in-use models are never taken", "[eviction]") {
  auto pinned = model("pinned", 100, 90'000, 1);
  pinned.pinned = true;
  auto leased = model("leased", 100, 90'000, 1);
  leased.leased = true;
  auto busy = model("busy", 100, 90'000, 1);
  busy.in_use = true;
  std::vector<eviction_candidate> resident{pinned, leased, busy, model("free", 100, 0, 10'000)};
  for (auto rule : {eviction_rule::cost, eviction_rule::lru}) {
    auto plan = plan_eviction(resident, 0, 100 * MiB, rule);
    CHECK(ids(plan) == std::vector<std::string>{"free"});
    auto too_much = plan_eviction(resident, 0, 150 * MiB, rule);
    CHECK_FALSE(too_much.fits);
    CHECK(too_much.chosen.empty());
    CHECK(too_much.kept_pinned_bytes == 100 * MiB);
    CHECK(too_much.kept_leased_bytes == 100 * MiB);
    CHECK(too_much.kept_in_use_bytes == 100 * MiB);
  }
}

TEST_CASE("lower priorities go first; higher ones only when the lower are not enough", "[eviction]") {
  auto low = model("low", 100, 0, 50'000); // dear and fresh, but low priority
  low.priority = model_priority::low;
  auto normal = model("normal", 100, 90'000, 1);
  auto high = model("high", 300, 90'000, 1);
  high.priority = model_priority::high;
  std::vector<eviction_candidate> resident{low, normal, high};
  for (auto rule : {eviction_rule::cost, eviction_rule::lru}) {
    CHECK(ids(plan_eviction(resident, 0, 100 * MiB, rule)) == std::vector<std::string>{"low"});
    CHECK(ids(plan_eviction(resident, 0, 200 * MiB, rule)) == std::vector<std::string>{"low", "normal"});
    auto all = plan_eviction(resident, 0, 450 * MiB, rule);
    CHECK(all.fits);
    auto taken = ids(all);
    CHECK(std::count(taken.begin(), taken.end(), "high") == 1);
    CHECK(taken.size() >= 2);
  }
}

TEST_CASE("names of priorities and rules", "[eviction]") {
  CHECK(priority_named("high") == model_priority::high);
  CHECK_FALSE(priority_named("urgent"));
  CHECK(to_string(model_priority::low) == "low");
  CHECK(eviction_rule_named("lru") == eviction_rule::lru);
  CHECK_FALSE(eviction_rule_named("random"));
}
