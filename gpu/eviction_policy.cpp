#include "gpu/eviction_policy.hpp"

#include <algorithm>
#include <array>

namespace modeld::gpu {
namespace {

constexpr std::array<std::string_view, 3> priority_names{"low", "normal", "high"};
constexpr std::array<std::string_view, 2> rule_names{"cost", "lru"};

eviction_choice choice_of(const eviction_candidate& c) {
  return {c.model_id, c.bytes, c.idle_ms, c.uses, c.reload_ms, expected_cost_ms(c), c.priority};
}

double total_cost(const std::vector<const eviction_candidate*>& set) {
  double sum = 0;
  for (auto* c : set)
    sum += expected_cost_ms(*c);
  return sum;
}

std::uint64_t total_bytes(const std::vector<const eviction_candidate*>& set) {
  std::uint64_t sum = 0;
  for (auto* c : set)
    sum += c->bytes;
  return sum;
}

// The first of `ordered` until `missing` bytes are freed.
std::vector<const eviction_candidate*> take_until(const std::vector<const eviction_candidate*>& ordered,
                                                  std::uint64_t missing) {
  std::vector<const eviction_candidate*> chosen;
  std::uint64_t freed = 0;
  for (auto* c : ordered) {
    if (freed >= missing)
      break;
    chosen.push_back(c);
    freed += c->bytes;
  }
  return chosen;
}

// Least recently used first until `missing` bytes are freed.
std::vector<const eviction_candidate*> by_recency(std::vector<const eviction_candidate*> allowed,
                                                  std::uint64_t missing) {
  std::stable_sort(allowed.begin(), allowed.end(), [](auto* a, auto* b) { return a->idle_ms > b->idle_ms; });
  return take_until(allowed, missing);
}

// The cheapest set found as the header says: greedy by cost per byte, then pruned, then
// compared with the cheapest single model that frees enough alone.
std::vector<const eviction_candidate*> by_cost(std::vector<const eviction_candidate*> allowed, std::uint64_t missing) {
  auto per_byte = [](const eviction_candidate* c) { return expected_cost_ms(*c) / static_cast<double>(std::max<std::uint64_t>(c->bytes, 1)); };
  std::stable_sort(allowed.begin(), allowed.end(), [&](auto* a, auto* b) { return per_byte(a) < per_byte(b); });
  auto greedy = take_until(allowed, missing);
  auto freed = total_bytes(greedy);
  // Put back what the set no longer needs, the dearest first.
  auto dearest_first = greedy;
  std::stable_sort(dearest_first.begin(), dearest_first.end(),
                   [](auto* a, auto* b) { return expected_cost_ms(*a) > expected_cost_ms(*b); });
  for (auto* c : dearest_first)
    if (freed - c->bytes >= missing) {
      freed -= c->bytes;
      greedy.erase(std::find(greedy.begin(), greedy.end(), c));
    }
  const eviction_candidate* single = nullptr;
  for (auto* c : allowed)
    if (c->bytes >= missing && (!single || expected_cost_ms(*c) < expected_cost_ms(*single)))
      single = c;
  if (single && expected_cost_ms(*single) < total_cost(greedy))
    return {single};
  return greedy;
}

} // namespace

std::string_view to_string(model_priority priority) { return priority_names[static_cast<std::size_t>(priority)]; }

std::optional<model_priority> priority_named(std::string_view name) {
  for (std::size_t i = 0; i < priority_names.size(); ++i)
    if (priority_names[i] == name)
      return static_cast<model_priority>(i);
  return std::nullopt;
}

std::string_view to_string(eviction_rule rule) { return rule_names[static_cast<std::size_t>(rule)]; }

std::optional<eviction_rule> eviction_rule_named(std::string_view name) {
  for (std::size_t i = 0; i < rule_names.size(); ++i)
    if (rule_names[i] == name)
      return static_cast<eviction_rule>(i);
  return std::nullopt;
}

double expected_cost_ms(const eviction_candidate& candidate) {
  auto idle_s = static_cast<double>(std::max<std::int64_t>(candidate.idle_ms, 0)) / 1000.0;
  return candidate.reload_ms * static_cast<double>(std::max<std::uint64_t>(candidate.uses, 1)) / (1.0 + idle_s);
}

eviction_plan plan_eviction(const std::vector<eviction_candidate>& resident, std::uint64_t free_bytes,
                            std::uint64_t needed_bytes, eviction_rule rule) {
  eviction_plan plan;
  if (free_bytes >= needed_bytes) {
    plan.fits = true;
    return plan;
  }
  auto missing = needed_bytes - free_bytes;
  for (auto& c : resident) {
    if (c.pinned)
      plan.kept_pinned_bytes += c.bytes;
    else if (c.leased)
      plan.kept_leased_bytes += c.bytes;
    else if (c.in_use)
      plan.kept_in_use_bytes += c.bytes;
  }
  // The lowest tier that frees enough: low alone, then low and normal, then every priority.
  for (auto tier : {model_priority::low, model_priority::normal, model_priority::high}) {
    std::vector<const eviction_candidate*> allowed;
    for (auto& c : resident)
      if (!c.pinned && !c.leased && !c.in_use && c.priority <= tier)
        allowed.push_back(&c);
    if (total_bytes(allowed) < missing)
      continue;
    auto chosen = rule == eviction_rule::lru ? by_recency(std::move(allowed), missing) : by_cost(std::move(allowed), missing);
    plan.fits = true;
    for (auto* c : chosen) {
      plan.chosen.push_back(choice_of(*c));
      plan.freed_bytes += c->bytes;
    }
    return plan;
  }
  return plan;
}

} // namespace modeld::gpu
