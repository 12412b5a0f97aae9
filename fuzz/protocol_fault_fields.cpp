// fuzz_protocol's reach into protocol/fault_command.cpp: the file compiled as it is, for
// service_target, device_target and read_fault (anonymous namespace). See protocol_fields.hpp.
#include "protocol/fault_command.cpp"

#include "fuzz/protocol_fields.hpp"

namespace modeld::fuzz {
namespace json = boost::json;

// inject_fault's reads, in its order, past its fault_injection_enabled check.
fields_result fault_fields(const json::object& data) {
  auto target = protocol::optional_string(data, "target", 128);
  if (auto* error = std::get_if<protocol::protocol_error>(&target))
    return *error;
  auto& target_value = std::get<std::optional<std::string>>(target);
  if (!target_value)
    return protocol::invalid_field("target", "target is missing (device:<id>, cache, metadata_store or validation)");
  if (auto service = protocol::service_target(*target_value))
    *target_value = std::string{actors::to_string(*service)};
  else if (auto device_id = protocol::device_target(*target_value))
    *target_value = "device:" + std::string{*device_id};
  else
    return protocol::invalid_field("target", "target must be device:<id>, cache, metadata_store or validation");
  auto fault = protocol::read_fault(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&fault))
    return *error;
  auto& request = std::get<actors::fault_request>(fault);
  return protocol::fault_answer(*target_value, request);
}

} // namespace modeld::fuzz
