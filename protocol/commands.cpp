#include "protocol/commands.hpp"

#include "protocol/fault_command.hpp"
#include "protocol/lease_commands.hpp"
#include "protocol/load_commands.hpp"
#include "protocol/model_commands.hpp"
#include "protocol/fields.hpp"
#include "protocol/status_json.hpp"

#include <boost/json/array.hpp>

#include <array>

namespace modeld::protocol {
namespace json = boost::json;
namespace {

// Reads the optional device_id and checks that the device exists.
field_result<std::string> device_filter(const service_context& context, const json::object& data) {
  auto device_id = optional_string(data, "device_id", 64);
  if (auto* error = std::get_if<protocol_error>(&device_id))
    return *error;
  auto& id = std::get<std::optional<std::string>>(device_id);
  if (!id)
    return std::string{};
  if (!context.registry->shows(*id)) {
    protocol_error error{error_code::device_not_found, "device '" + *id + "' does not exist"};
    error.details["device_id"] = *id;
    return error;
  }
  return *id;
}

template <status_shape Shape>
command_result status_now(service_context& context, const request& req, key_case style) {
  auto filter = device_filter(context, req.data);
  if (auto* error = std::get_if<protocol_error>(&filter))
    return *error;
  return serialized_data{context.statuses.read(context.status_from(), Shape, std::get<std::string>(filter), style)};
}

asio::awaitable<command_result> get_device_list(service_context& context, request&) {
  co_return json::value(json::object{{"devices", device_listings(*context.registry)}});
}

constexpr std::array commands{
  command_entry{"hello"},
  command_entry{"ping"},
  command_entry{"cancel"},
  command_entry{"get_device_list", get_device_list},
  command_entry{.name = "get_device_status", .instant = status_now<status_shape::device>},
  command_entry{.name = "get_model_status", .instant = status_now<status_shape::model>},
  command_entry{.name = "get_vram_model_status", .instant = status_now<status_shape::model>},
  command_entry{"subscribe_status"},
  command_entry{"unsubscribe"},
  command_entry{"inject_fault", inject_fault, true},
  command_entry{"get_models", get_models},
  command_entry{"get_model", get_model},
  command_entry{"post_model_scan", post_model_scan, true},
  command_entry{"post_model_validate", post_model_validate},
  command_entry{"get_model_metadata", get_model_metadata},
  command_entry{"put_model_metadata", put_model_metadata, true},
  command_entry{"get_model_components", get_model_components},
  command_entry{"post_model_load", post_model_load, true},
  command_entry{"post_model_unload", post_model_unload, true},
  command_entry{"release", release_lease, true},
  command_entry{"post_model_benchmark", post_model_benchmark},
  command_entry{"get_model_benchmark_results", get_model_benchmark_results},
  command_entry{"get_model_cache", get_model_cache},
  command_entry{"post_model_cache", post_model_cache, true},
  command_entry{"delete_model_cache", delete_model_cache, true},
};

} // namespace

const command_entry* find_command(std::string_view name) {
  for (auto& entry : commands)
    if (entry.name == name)
      return &entry;
  return nullptr;
}

std::size_t command_index(const command_entry& command) { return static_cast<std::size_t>(&command - commands.data()); }

std::vector<std::string_view> capabilities() {
  std::vector<std::string_view> names;
  for (auto& entry : commands)
    names.push_back(entry.name);
  return names;
}

} // namespace modeld::protocol
