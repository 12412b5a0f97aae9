#include "actors/placement.hpp"

#include "actors/epoch.hpp"
#include "actors/status_view.hpp"

namespace modeld::actors {

std::variant<registry_entry, failure> named_device(const device_registry& devices, const std::string& device_id) {
  auto entry = devices.find(device_id);
  if (!entry && devices.is_remote(device_id))
    return failure{errc::device_unavailable, "device '" + device_id +
                                               "' is on another node: only loads and unloads are routed to other "
                                               "nodes yet; send this request to that node"}
      .about("device_id", device_id);
  if (!entry)
    return failure{errc::device_not_found, "device '" + device_id + "' does not exist"}.about("device_id", device_id);
  if (!entry->handle)
    return failure{errc::device_unavailable, "device '" + device_id + "' is " + std::string{to_string(entry->health)}}
      .about("device_id", device_id);
  return *entry;
}

std::optional<registry_entry> roomiest_device(const device_registry& devices) {
  auto status = read_local_status(devices, {}, epoch_ms());
  std::optional<registry_entry> best;
  std::uint64_t best_free = 0;
  for (auto& device : status.devices) {
    if (!device.answered || (best && device.status.free_bytes <= best_free))
      continue;
    if (auto entry = devices.find(device.info.id); entry && entry->handle) {
      best = entry;
      best_free = device.status.free_bytes;
    }
  }
  return best;
}

std::optional<registry_entry> holding_device(const device_registry& devices, const std::string& model_id) {
  auto status = read_local_status(devices, {}, epoch_ms());
  for (auto& device : status.devices) {
    if (!device.answered)
      continue;
    for (auto& model : device.status.loaded_models)
      if (model.model_id == model_id)
        if (auto entry = devices.find(device.info.id); entry && entry->handle)
          return entry;
  }
  return std::nullopt;
}

} // namespace modeld::actors
