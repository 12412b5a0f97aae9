// fuzz_protocol's reach into protocol/model_commands.cpp: the file compiled as it is, for
// read_level and validation_target (anonymous namespace). See protocol_fields.hpp.
#include "protocol/model_commands.cpp"

#include "fuzz/protocol_fields.hpp"

namespace modeld::fuzz {
namespace json = boost::json;

fields_result validate_fields(const json::object& data) {
  auto level = protocol::read_level(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&level))
    return *error;
  auto target = protocol::validation_target(data);
  if (auto* error = std::get_if<protocol::protocol_error>(&target))
    return *error;
  auto& [name, is_path] = std::get<std::pair<std::string, bool>>(target);
  return json::value(json::object{{"validation_level", catalog::to_string(std::get<formats::validation_level>(level))},
                                  {is_path ? "model_path" : "model_id", name}});
}

} // namespace modeld::fuzz
