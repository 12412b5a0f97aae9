#include "protocol/fields.hpp"

namespace modeld::protocol {

field_result<std::optional<std::string>> optional_string(const boost::json::object& data, std::string_view field,
                                                         std::size_t max_length) {
  auto* value = data.if_contains(field);
  if (value == nullptr)
    return std::optional<std::string>{};
  if (!value->is_string())
    return invalid_field(field, std::string{field} + " must be a string");
  if (value->get_string().size() > max_length)
    return invalid_field(field, std::string{field} + " is longer than " + std::to_string(max_length) + " bytes");
  return std::optional<std::string>{std::string{value->get_string()}};
}

} // namespace modeld::protocol
