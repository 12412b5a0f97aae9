#include "actors/device_board.hpp"

#include "actors/epoch.hpp"

namespace modeld::actors {
namespace {

void add_counters(device_status& into, const device_status& from) {
  into.loads += from.loads;
  into.unloads += from.unloads;
  into.evictions += from.evictions;
  into.cache_hits += from.cache_hits;
  into.load_time_ms_total += from.load_time_ms_total;
}

// The counters alone, the rest empty.
device_status counters_of(const device_status& status) {
  device_status counters;
  add_counters(counters, status);
  return counters;
}

} // namespace

void device_board::publish(const caf::actor_addr& from, device_status status) {
  const auto now = epoch_ms();
  std::lock_guard lock{mutex_};
  auto& slot = slots_[status.device_id];
  if (slot.latest.from && slot.latest.from != from) // a new incarnation: the old one's counters stay
    slot.carried = counters_of(slot.latest.status);
  add_counters(status, slot.carried);
  slot.latest = published_status{std::move(status), now, from};
}

std::optional<published_status> device_board::latest(const std::string& device_id) const {
  std::lock_guard lock{mutex_};
  auto it = slots_.find(device_id);
  if (it == slots_.end())
    return std::nullopt;
  return it->second.latest;
}

} // namespace modeld::actors
