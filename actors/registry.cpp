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

device_registry::device_registry(std::vector<device_info> devices) : devices_(std::move(devices)) {
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

void device_registry::set_responsive(std::string_view device_id, bool responsive) {
  const auto from = responsive ? device_health::unresponsive : device_health::ready;
  const auto to = responsive ? device_health::ready : device_health::unresponsive;
  auto current = find(device_id);
  if (!current || current->health != from)
    return; // nothing to publish: the common case costs no copy
  update(device_id, [&](registry_entry& e) {
    if (e.health == from)
      e.health = to;
  });
}

} // namespace modeld::actors
