#include "protocol/fault_command.hpp"

#include "actors/log.hpp"
#include "protocol/actor_call.hpp"
#include "protocol/fields.hpp"

#include <array>

namespace modeld::protocol {
namespace json = boost::json;
namespace {

constexpr std::uint64_t default_duration_ms = 10'000;
constexpr std::uint64_t max_duration_ms = 600'000;

template <class T>
bool failed(const field_result<T>& result) {
  return std::holds_alternative<protocol_error>(result);
}

field_result<actors::fault_request> read_fault(const json::object& data) {
  static constexpr std::array<std::string_view, 4> modes{"crash", "hang", "slow", "oom"};
  auto mode = optional_enum(data, "mode", modes);
  if (failed(mode))
    return std::get<protocol_error>(mode);
  auto& mode_value = std::get<std::optional<std::string_view>>(mode);
  if (!mode_value)
    return invalid_field("mode", "mode is missing (crash, hang, slow or oom)");
  auto duration = optional_count(data, "duration_ms", max_duration_ms);
  if (failed(duration))
    return std::get<protocol_error>(duration);
  auto ms = std::get<std::optional<std::uint64_t>>(duration).value_or(default_duration_ms);
  return actors::fault_request{std::string{*mode_value}, static_cast<std::uint32_t>(ms)};
}

// cache, metadata_store or validation, in any case ("MetadataStore", "Cache").
std::optional<actors::service> service_target(std::string_view target) {
  for (auto which : actors::all_services)
    if (same_enum_value(target, actors::to_string(which)))
      return which;
  return std::nullopt;
}

// The id of a "device:<id>" target: the prefix in any case ("Device:"), the id as sent, since
// device ids are matched exactly everywhere.
std::optional<std::string_view> device_target(std::string_view target) {
  constexpr std::string_view prefix = "device:";
  if (target.size() < prefix.size() || !same_enum_value(target.substr(0, prefix.size() - 1), "device") ||
      target[prefix.size() - 1] != ':')
    return std::nullopt;
  return target.substr(prefix.size());
}

json::value fault_answer(const std::string& target, const actors::fault_request& request) {
  return json::object{{"target", target},
                      {"mode", request.mode},
                      {"duration_ms", request.duration_ms},
                      {"injected", true}};
}

// The fault is in: one log line, with the request that injected it.
void log_injected(const request& req, const std::string& target, const actors::fault_request& request) {
  log::warning("fault_injected", {{"request_id", request_id_text(req.request_id)},
                                  {"target", target},
                                  {"mode", request.mode},
                                  {"duration_ms", request.duration_ms}});
}

// cache, metadata_store, validation: the service supervisor restarts them after a crash.
asio::awaitable<command_result> inject_service_fault(service_context& context, const request& req,
                                                     actors::service which, const std::string& target,
                                                     const actors::fault_request& request) {
  if (request.mode == "oom")
    co_return invalid_field("mode", "oom is a device fault; " + target + " takes crash, hang or slow");
  auto entry = context.services->find(which);
  if (!entry.handle) {
    protocol_error error{error_code::internal, target + " is " + std::string{actors::to_string(entry.health)} +
                                                 (entry.last_error.empty() ? "" : " (" + entry.last_error + ")")};
    error.details["target"] = target;
    co_return error;
  }
  auto handle = caf::actor_cast<caf::actor>(entry.handle); // named: no temporaries in a co_await (g++ 12)
  auto reply = co_await ask<actors::ok_atom>(context.bridge, handle, caf::infinite, actors::fault_atom::value,
                                             request);
  // A crash may take the service down before its acknowledgement leaves: that is the fault.
  if (auto* error = std::get_if<caf::error>(&reply); error && request.mode != "crash")
    co_return actor_failure(*error, "injecting the fault");
  log_injected(req, target, request);
  co_return fault_answer(target, request);
}

} // namespace

asio::awaitable<command_result> inject_fault(service_context& context, request& req) {
  if (!context.fault_injection_enabled)
    co_return protocol_error{error_code::fault_injection_disabled,
                             "fault injection is off; start modeld with --enable-fault-injection"};
  auto target = optional_string(req.data, "target", 128);
  if (failed(target))
    co_return std::get<protocol_error>(target);
  auto& target_value = std::get<std::optional<std::string>>(target);
  if (!target_value)
    co_return invalid_field("target", "target is missing (device:<id>, cache, metadata_store or validation)");
  auto service = service_target(*target_value);
  if (service)
    *target_value = std::string{actors::to_string(*service)}; // answered as canonical, like every enum value
  else if (auto device_id = device_target(*target_value))
    *target_value = "device:" + std::string{*device_id};
  else
    co_return invalid_field("target", "target must be device:<id>, cache, metadata_store or validation");
  auto fault = read_fault(req.data);
  if (failed(fault))
    co_return std::get<protocol_error>(fault);
  if (service) {
    auto answer = co_await inject_service_fault(context, req, *service, *target_value, std::get<actors::fault_request>(fault));
    co_return answer;
  }

  auto device_id = target_value->substr(7);
  auto entry = context.registry->find(device_id);
  if (!entry) {
    protocol_error error{error_code::device_not_found, "device '" + device_id + "' does not exist"};
    error.details["device_id"] = device_id;
    co_return error;
  }
  if (!entry->handle) {
    protocol_error error{error_code::device_unavailable,
                         "device '" + device_id + "' is " + std::string{actors::to_string(entry->health)}};
    error.details["device_id"] = device_id;
    co_return error;
  }
  auto& request = std::get<actors::fault_request>(fault);
  auto reply = co_await ask<actors::ok_atom>(context.bridge, entry->handle, caf::infinite, actors::fault_atom::value,
                                             request);
  // A crash may take the device down before its acknowledgement leaves: that is the fault.
  if (auto* error = std::get_if<caf::error>(&reply); error && request.mode != "crash")
    co_return actor_failure(*error, "injecting the fault");
  log_injected(req, *target_value, request);
  co_return fault_answer(*target_value, request);
}

} // namespace modeld::protocol
