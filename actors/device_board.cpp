#include "actors/device_board.hpp"

#include "actors/epoch.hpp"

#include <algorithm>

namespace modeld::actors {
device_board::device_board(std::vector<std::string> device_ids, std::chrono::milliseconds deadline)
  : ids_(std::move(device_ids)), deadline_(deadline), times_(std::make_unique<times[]>(ids_.size())),
    load_times_(std::make_unique<load_times[]>(ids_.size())), carried_(ids_.size()) {
  auto initial = std::make_shared<board_snapshot>();
  initial->devices.resize(ids_.size());
  snapshot_ = std::move(initial);
}

std::optional<std::size_t> device_board::index_of(std::string_view device_id) const {
  for (std::size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == device_id)
      return i;
  return std::nullopt;
}

bool device_board::is_latest(std::size_t index, const caf::actor_addr& from) const {
  auto& latest = snapshot_->devices[index];
  return latest && latest->from == from;
}

void device_board::publish(const caf::actor_addr& from, device_status status) {
  auto index = index_of(status.device_id);
  if (!index)
    return;
  const auto now = epoch_ms();
  std::lock_guard lock{mutex_};
  auto& latest = snapshot_->devices[*index];
  if (latest && latest->from != from) { // a new incarnation: the old one's counters stay
    carried_[*index] = counters_of(latest->status);
    times_[*index].silent_until_ms.store(0);
  }
  add_counters(status, carried_[*index]);
  auto next = std::make_shared<board_snapshot>(*snapshot_);
  next->version = snapshot_->version + 1;
  next->devices[*index] = std::make_shared<const published_status>(published_status{std::move(status), now, from});
  snapshot_ = std::move(next);
  times_[*index].heard_ms.store(now);
}

void device_board::heard(const caf::actor_addr& from, std::string_view device_id) {
  auto index = index_of(device_id);
  if (!index)
    return;
  std::lock_guard lock{mutex_};
  if (is_latest(*index, from))
    times_[*index].heard_ms.store(epoch_ms());
}

void device_board::silent_until(const caf::actor_addr& from, std::string_view device_id, std::int64_t until_ms) {
  auto index = index_of(device_id);
  if (!index)
    return;
  std::lock_guard lock{mutex_};
  if (is_latest(*index, from))
    times_[*index].silent_until_ms.store(until_ms);
}

void device_board::record_load(std::string_view device_id, std::chrono::duration<double> took, bool from_cache) {
  if (auto index = index_of(device_id))
    (from_cache ? load_times_[*index].from_cache : load_times_[*index].from_disk).observe(took);
}

const metrics::histogram& device_board::load_seconds(std::size_t device_index, bool from_cache) const {
  auto& times = load_times_[device_index];
  return from_cache ? times.from_cache : times.from_disk;
}

std::shared_ptr<const board_snapshot> device_board::read() const {
  std::lock_guard lock{mutex_};
  return snapshot_;
}

device_liveness device_board::liveness(std::size_t device_index) const {
  auto& t = times_[device_index];
  return {t.heard_ms.load(), t.silent_until_ms.load()};
}

std::optional<published_status> device_board::latest(std::string_view device_id) const {
  auto index = index_of(device_id);
  if (!index)
    return std::nullopt;
  auto snapshot = read();
  if (auto& latest = snapshot->devices[*index])
    return *latest;
  return std::nullopt;
}

std::chrono::milliseconds device_board::heartbeat_period() const {
  return std::clamp(deadline_ / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

} // namespace modeld::actors
