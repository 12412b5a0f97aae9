#include "actors/messages.hpp"

namespace modeld::actors {

std::string overall_health(const std::vector<device_report>& devices) {
  std::size_t answered = 0;
  for (auto& d : devices)
    if (d.answered)
      ++answered;
  if (answered == 0)
    return "down";
  return answered == devices.size() ? "healthy" : "degraded";
}

void add_counters(device_status& into, const device_status& from) {
  into.loads += from.loads;
  into.unloads += from.unloads;
  into.evictions += from.evictions;
  into.cache_hits += from.cache_hits;
  into.failed_loads += from.failed_loads;
  into.expirations += from.expirations;
  into.load_time_ms_total += from.load_time_ms_total;
}

device_status counters_of(const device_status& status) {
  device_status counters;
  add_counters(counters, status);
  return counters;
}

} // namespace modeld::actors
