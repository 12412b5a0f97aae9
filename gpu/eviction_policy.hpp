// Which resident models to unload so that a load fits: torch-free, pure, used by the device
// actor and by the eviction bench.
//
// Never chosen: a pinned model, one with a lease, one something else still uses (a
// benchmark). Priorities are tiers: normal models go only when the low ones are not enough,
// high ones only when low and normal are not enough.
//
// Within the tiers allowed, two rules:
//   lru   the least recently used first, until the load fits (the old rule, kept as the
//         bench's baseline and for operators who want it: --eviction-policy lru);
//   cost  the set that frees enough bytes at the least expected cost. A model's expected
//         cost is its measured reload time on this device (cheap when the RAM cache holds it)
//         times how likely it is to be asked for again soon, taken as its uses while loaded
//         over (1 + idle seconds): a model used often and lately is dear, one used once and
//         idle for an hour nearly free (GreedyDual-Size-Frequency's weighting, with recency).
//         The set is found greedily by cost per byte, then any model the set no longer needs
//         is put back (dearest first), and a single model that alone frees enough at less
//         cost wins over the set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::gpu {

enum class model_priority { low, normal, high };
std::string_view to_string(model_priority priority);
std::optional<model_priority> priority_named(std::string_view name);

enum class eviction_rule { cost, lru };
std::string_view to_string(eviction_rule rule);
std::optional<eviction_rule> eviction_rule_named(std::string_view name);

struct eviction_candidate {
  std::string model_id;
  std::uint64_t bytes = 0;
  std::int64_t idle_ms = 0;  // since its last use
  std::uint64_t uses = 1;    // its load and every use since (load hits, leases, benchmarks)
  double reload_ms = 0;      // measured: what bringing it back would take
  model_priority priority = model_priority::normal;
  bool pinned = false;
  bool leased = false;
  bool in_use = false;
};

// The expected cost of evicting `candidate`, in milliseconds of reload (see above).
double expected_cost_ms(const eviction_candidate& candidate);

struct eviction_choice {
  std::string model_id;
  std::uint64_t bytes = 0;
  std::int64_t idle_ms = 0;
  std::uint64_t uses = 1;
  double reload_ms = 0;
  double expected_cost_ms = 0;
  model_priority priority = model_priority::normal;
};

struct eviction_plan {
  bool fits = false;                   // after unloading `chosen`, `needed` bytes are free
  std::vector<eviction_choice> chosen; // empty when it fits already or cannot fit
  std::uint64_t freed_bytes = 0;
  // Why it cannot fit: what the rules kept (pinned, leased, in use) and their bytes.
  std::uint64_t kept_pinned_bytes = 0;
  std::uint64_t kept_leased_bytes = 0;
  std::uint64_t kept_in_use_bytes = 0;
};

eviction_plan plan_eviction(const std::vector<eviction_candidate>& resident, std::uint64_t free_bytes,
                            std::uint64_t needed_bytes, eviction_rule rule);

} // namespace modeld::gpu
