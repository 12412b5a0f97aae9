// fuzz_protocol's reach into protocol/load_commands.cpp: the file compiled as it is, for
// read_components, read_dtype, read_load_policy, optional_flag and read_benchmark_settings
// (anonymous namespace). See
// protocol_fields.hpp.
#include "protocol/load_commands.cpp"

#include "fuzz/protocol_fields.hpp"

namespace modeld::fuzz {
namespace json = boost::json;

fields_result load_fields(const json::object& data) {
  auto model_id = protocol::required_model_id(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&model_id))
    return *error;
  auto components = protocol::read_components(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&components))
    return *error;
  auto dtype = protocol::read_dtype(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&dtype))
    return *error;
  auto policy = protocol::read_load_policy(data, protocol::memory_defaults{});
  if (auto* error = std::get_if<protocol::protocol_error>(&policy))
    return *error;
  auto lease = protocol::optional_flag(data, "lease");
  if (auto* error = std::get_if<protocol::protocol_error>(&lease))
    return *error;
  auto& keeping = std::get<actors::load_policy>(policy);
  // named_device's read; the lookup that follows needs the device registry.
  auto device = protocol::optional_string(data, "device_id", 64);
  if (auto* error = std::get_if<protocol::protocol_error>(&device))
    return *error;
  return json::value(json::object{
    {"model_id", std::get<std::string>(model_id)},
    {"components", protocol::string_array(std::get<std::vector<std::string>>(components))},
    {"dtype", gpu::to_string(std::get<gpu::load_dtype>(dtype))},
    {"evict", keeping.evict},
    {"lease", std::get<std::optional<bool>>(lease).value_or(false)},
    {"keep_alive_ms", keeping.keep_alive_ms ? json::value(*keeping.keep_alive_ms) : json::value(nullptr)},
    {"pinned", keeping.pinned ? json::value(*keeping.pinned) : json::value(nullptr)},
    {"priority", keeping.priority ? json::value(*keeping.priority) : json::value(nullptr)},
    {"device_id", std::get<std::optional<std::string>>(device).value_or("")},
  });
}

fields_result benchmark_fields(const json::object& data) {
  auto model_id = protocol::required_model_id(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&model_id))
    return *error;
  auto settings = protocol::read_benchmark_settings(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&settings))
    return *error;
  auto& chosen = std::get<protocol::benchmark_settings>(settings);
  json::array shape;
  for (auto d : chosen.request.input_shape)
    shape.emplace_back(d);
  return json::value(json::object{
    {"model_id", std::get<std::string>(model_id)},
    {"iterations", chosen.request.iterations},
    {"warmup", chosen.request.warmup},
    {"batch", chosen.request.batch},
    {"inference", chosen.inference},
    {"input_shape", std::move(shape)},
  });
}

} // namespace modeld::fuzz
