#include "actors/registry.hpp"

#include <mutex>

namespace modeld::actors {

std::string_view to_string(device_health health) {
  switch (health) {
    case device_health::ready: return "ready";
    case device_health::unresponsive: return "unresponsive";
    case device_health::restarting: return "restarting";
    case device_health::failed: return "failed";
  }
  return "failed";
}

namespace {

std::vector<std::string> ids_of(const std::vector<device_info>& devices) {
  std::vector<std::string> ids;
  for (auto& info : devices)
    ids.push_back(info.id);
  return ids;
}

} // namespace

device_registry::device_registry(std::vector<device_info> devices, std::chrono::milliseconds status_deadline)
  : devices_(std::move(devices)), board_(std::make_shared<device_board>(ids_of(devices_), status_deadline)) {
  auto initial = std::make_shared<entries>();
  for (auto& info : devices_)
    initial->push_back(registry_entry{info, {}, device_health::restarting, 0, {}});
  entries_ = std::move(initial);
}

std::shared_ptr<const device_registry::entries> device_registry::snapshot() const {
  std::shared_lock lock{mutex_};
  return entries_;
}

std::optional<registry_entry> device_registry::find(std::string_view device_id) const {
  auto current = snapshot(); // keeps the entries alive while we look
  for (auto& e : *current)
    if (e.info.id == device_id)
      return e;
  return std::nullopt;
}

bool device_registry::contains(std::string_view device_id) const {
  for (auto& info : devices_)
    if (info.id == device_id)
      return true;
  return false;
}

template <class Change>
void device_registry::update(std::string_view device_id, Change&& change) {
  std::unique_lock lock{mutex_};
  auto next = std::make_shared<entries>(*entries_);
  for (auto& e : *next)
    if (e.info.id == device_id)
      change(e);
  entries_ = std::move(next);
}

void device_registry::set_running(std::string_view device_id, device_actor handle, std::uint32_t restarts) {
  update(device_id, [&](registry_entry& e) {
    e.handle = std::move(handle);
    e.health = device_health::ready;
    e.restarts = restarts;
  });
}

void device_registry::set_restarting(std::string_view device_id, std::string reason) {
  update(device_id, [&](registry_entry& e) {
    e.handle = nullptr;
    e.health = device_health::restarting;
    e.last_error = std::move(reason);
  });
}

void device_registry::set_failed(std::string_view device_id, std::string reason) {
  update(device_id, [&](registry_entry& e) {
    e.handle = nullptr;
    e.health = device_health::failed;
    e.last_error = std::move(reason);
  });
}

device_health device_registry::health_now(const registry_entry& entry, std::int64_t now_ms) const {
  return health_now(entry, *board_->read(), now_ms);
}

device_health device_registry::health_now(const registry_entry& entry, const board_snapshot& board,
                                          std::int64_t now_ms) const {
  if (entry.health != device_health::ready)
    return entry.health;
  auto index = board_->index_of(entry.info.id);
  if (!index)
    return entry.health;
  auto& latest = board.devices[*index];
  if (!latest || latest->from != entry.handle.address())
    return device_health::restarting; // its new incarnation has not reported yet
  return board_->liveness(*index).responsive(now_ms, board_->deadline()) ? device_health::ready
                                                                           : device_health::unresponsive;
}

} // namespace modeld::actors
