#include "protocol/status_metrics.hpp"

#include "actors/epoch.hpp"
#include "actors/status_view.hpp"

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace modeld::protocol {
namespace {

using metrics::family;
using metrics::metric_type;

// A device's states in PROTOCOL.md's vocabulary. modeld runs on one node, so `unreachable` (its
// node is gone) is never the state and always 0; it is listed so that dashboards written
// against the vocabulary find every series.
constexpr std::array<std::string_view, 6> device_states{"ready",      "busy",        "unresponsive",
                                                        "restarting", "unreachable", "failed"};
constexpr std::array<std::string_view, 3> service_states{"ready", "restarting", "failed"};

// 1 for `now`, 0 for each other state; a state outside the vocabulary still gets its 1.
void add_states(family& out, const metrics::label& who, std::string_view now, std::span<const std::string_view> states) {
  bool listed = false;
  for (auto state : states) {
    listed = listed || state == now;
    out.samples.push_back({{who, {"state", std::string{state}}}, state == now ? 1.0 : 0.0});
  }
  if (!listed)
    out.samples.push_back({{who, {"state", std::string{now}}}, 1.0});
}

metrics::sample one(std::vector<metrics::label> labels, double value) { return {std::move(labels), value}; }

} // namespace

std::vector<family> status_families(const status_sources& sources) {
  auto status = actors::read_status(*sources.registry, {}, actors::epoch_ms());
  auto& board = *sources.registry->board();
  family memory{"modeld_device_memory_bytes",
                "Device memory in bytes: total, budget (what modeld may use of it), used (tensors held and "
                "loading plus the allocator reserve, each shared component once), logical (the loaded models' "
                "bytes, shared components in each) and shared_saved (their difference); the last three absent "
                "while the device restarts or failed",
                metric_type::gauge};
  family state{"modeld_device_state", "1 for the device's current state, 0 for the others", metric_type::gauge};
  family restarts{"modeld_device_restarts_total", "Restarts of the device's actor after a crash", metric_type::counter};
  family loaded{"modeld_loaded_models", "Models resident in the device's memory", metric_type::gauge};
  family load_seconds{"modeld_load_seconds",
                      "Durations of the device's loads that loaded, by whether host memory served them (the "
                      "load_time_ms of their answers)",
                      metric_type::histogram};
  family evictions{"modeld_evictions_total", "Models unloaded to make room for a load", metric_type::counter};
  family failed_loads{"modeld_failed_loads_total",
                      "Loads the device could not do: out of memory, or a file it could not load", metric_type::counter};
  for (auto& report : status.devices) {
    const metrics::label device{"device", report.info.id};
    memory.samples.push_back(one({device, {"kind", "total"}}, static_cast<double>(report.info.total_bytes)));
    memory.samples.push_back(one({device, {"kind", "budget"}}, static_cast<double>(report.info.budget_bytes)));
    if (report.answered || report.has_last_status) {
      memory.samples.push_back(one({device, {"kind", "used"}}, static_cast<double>(report.status.used_bytes)));
      memory.samples.push_back(one({device, {"kind", "logical"}}, static_cast<double>(report.status.logical_bytes)));
      memory.samples.push_back(
        one({device, {"kind", "shared_saved"}}, static_cast<double>(report.status.shared_bytes_saved)));
    }
    add_states(state, device, report.state, device_states);
    restarts.samples.push_back(one({device}, report.restarts));
    loaded.samples.push_back(one({device}, static_cast<double>(report.status.loaded_models.size())));
    evictions.samples.push_back(one({device}, static_cast<double>(report.status.evictions)));
    failed_loads.samples.push_back(one({device}, static_cast<double>(report.status.failed_loads)));
    if (auto index = board.index_of(report.info.id))
      for (bool from_cache : {false, true})
        load_seconds.series.push_back({{device, {"from_cache", from_cache ? "true" : "false"}},
                                       board.load_seconds(*index, from_cache).snapshot()});
  }

  // The cache's own counters: a restarted cache starts from zero, which Prometheus reads as a
  // counter reset.
  auto cache = sources.cache_board->read();
  family cache_bytes{"modeld_cache_bytes", "RAM cache bytes: budget, used, logical and shared_saved",
                     metric_type::gauge};
  cache_bytes.samples.push_back(one({{"kind", "budget"}}, static_cast<double>(cache->budget_bytes)));
  cache_bytes.samples.push_back(one({{"kind", "used"}}, static_cast<double>(cache->used_bytes)));
  cache_bytes.samples.push_back(one({{"kind", "logical"}}, static_cast<double>(cache->logical_bytes)));
  cache_bytes.samples.push_back(one({{"kind", "shared_saved"}}, static_cast<double>(cache->shared_bytes_saved)));
  family hits{"modeld_cache_hits_total", "Loads that loaded from host memory (the cache's statistics.hits)",
              metric_type::counter};
  hits.samples.push_back(one({}, static_cast<double>(cache->hits)));
  family misses{"modeld_cache_misses_total", "Loads that loaded by reading the file (the cache's statistics.misses)",
                metric_type::counter};
  misses.samples.push_back(one({}, static_cast<double>(cache->misses)));

  family service_state{"modeld_service_state", "1 for the service's current state, 0 for the others",
                       metric_type::gauge};
  auto services = sources.services->snapshot(); // held while read: a restart publishes a new one
  for (auto& entry : *services)
    add_states(service_state, {"service", std::string{actors::to_string(entry.which)}}, actors::to_string(entry.health),
               service_states);

  std::vector<family> out;
  for (auto* f : {&memory, &state, &restarts, &loaded, &load_seconds, &evictions, &failed_loads, &cache_bytes, &hits, &misses,
                  &service_state})
    out.push_back(std::move(*f));
  return out;
}

} // namespace modeld::protocol
