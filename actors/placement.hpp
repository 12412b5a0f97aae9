// Where device work goes: the device a request names (it must exist and be ready), or the
// ready device with the most free memory as the devices last published (no device is asked).
#pragma once

#include "actors/device_messages.hpp"
#include "actors/registry.hpp"

#include <optional>
#include <string>
#include <variant>

namespace modeld::actors {

std::variant<registry_entry, failure> named_device(const device_registry& devices, const std::string& device_id);

std::optional<registry_entry> roomiest_device(const device_registry& devices);

// The ready device that holds `model_id` loaded, as the devices last published, if one does.
std::optional<registry_entry> holding_device(const device_registry& devices, const std::string& model_id);

} // namespace modeld::actors
