#include "actors/service_registry.hpp"

#include <mutex>

namespace modeld::actors {

std::string_view to_string(service which) {
  switch (which) {
    case service::metadata_store: return "metadata_store";
    case service::cache: return "cache";
    case service::validation: return "validation";
  }
  return "unknown";
}

std::optional<service> service_named(std::string_view name) {
  for (auto which : all_services)
    if (to_string(which) == name)
      return which;
  return std::nullopt;
}

service_registry::service_registry() {
  auto initial = std::make_shared<entries>();
  for (std::size_t i = 0; i < all_services.size(); ++i)
    (*initial)[i].which = all_services[i];
  entries_ = std::move(initial);
}

std::shared_ptr<const service_registry::entries> service_registry::snapshot() const {
  std::shared_lock lock{mutex_};
  return entries_;
}

service_entry service_registry::find(service which) const {
  return (*snapshot())[static_cast<std::size_t>(which)];
}

template <class Change>
void service_registry::update(service which, Change&& change) {
  std::unique_lock lock{mutex_};
  auto next = std::make_shared<entries>(*entries_);
  change((*next)[static_cast<std::size_t>(which)]);
  entries_ = std::move(next);
}

void service_registry::set_running(service which, caf::strong_actor_ptr handle, std::uint32_t restarts) {
  update(which, [&](service_entry& e) {
    e.handle = std::move(handle);
    e.health = device_health::ready;
    e.restarts = restarts;
  });
}

void service_registry::set_restarting(service which, std::string reason) {
  update(which, [&](service_entry& e) {
    e.handle = nullptr;
    e.health = device_health::restarting;
    e.last_error = std::move(reason);
  });
}

void service_registry::set_failed(service which, std::string reason) {
  update(which, [&](service_entry& e) {
    e.handle = nullptr;
    e.health = device_health::failed;
    e.last_error = std::move(reason);
  });
}

} // namespace modeld::actors
