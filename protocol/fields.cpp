#include "protocol/fields.hpp"

namespace modeld::protocol {
namespace {

// The next character of an enum value that takes part in matching, lower-cased, or 0 at the end.
char next_enum_char(std::string_view text, std::size_t& at) {
  while (at < text.size() && (text[at] == '_' || text[at] == '-'))
    ++at;
  if (at == text.size())
    return 0;
  char c = text[at++];
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string listed(std::span<const std::string_view> names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i)
    text.append(i == 0 ? "" : i + 1 == names.size() ? " or " : ", ").append(names[i]);
  return text;
}

} // namespace

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

field_result<std::string> required_model_id(const boost::json::object& data) {
  auto id = optional_string(data, "model_id", max_model_id);
  if (auto* error = std::get_if<protocol_error>(&id))
    return *error;
  auto& value = std::get<std::optional<std::string>>(id);
  if (!value || value->empty())
    return invalid_field("model_id", "model_id is missing");
  return *value;
}

field_result<std::optional<bool>> optional_flag(const boost::json::object& data, std::string_view field) {
  auto* value = data.if_contains(field);
  if (value == nullptr)
    return std::optional<bool>{};
  if (!value->is_bool())
    return invalid_field(field, std::string{field} + " must be true or false");
  return std::optional<bool>{value->get_bool()};
}

field_result<std::optional<std::uint64_t>> optional_count(const boost::json::object& data, std::string_view field,
                                                          std::uint64_t max) {
  auto* value = data.if_contains(field);
  if (value == nullptr)
    return std::optional<std::uint64_t>{};
  auto out_of_range = [&] {
    return invalid_field(field, std::string{field} + " must be a whole number from 0 to " + std::to_string(max));
  };
  std::uint64_t number = 0;
  if (value->is_uint64())
    number = value->get_uint64();
  else if (value->is_int64() && value->get_int64() >= 0)
    number = static_cast<std::uint64_t>(value->get_int64());
  else if (value->is_double() && value->get_double() >= 0 && value->get_double() <= static_cast<double>(max) &&
           value->get_double() == static_cast<double>(static_cast<std::uint64_t>(value->get_double())))
    number = static_cast<std::uint64_t>(value->get_double());
  else
    return out_of_range();
  if (number > max)
    return out_of_range();
  return std::optional<std::uint64_t>{number};
}

bool same_enum_value(std::string_view sent, std::string_view name) {
  std::size_t in_sent = 0, in_name = 0;
  while (true) {
    char a = next_enum_char(sent, in_sent), b = next_enum_char(name, in_name);
    if (a != b)
      return false;
    if (a == 0)
      return true;
  }
}

std::optional<std::string_view> match_enum(std::string_view sent, std::span<const std::string_view> names) {
  for (auto name : names)
    if (same_enum_value(sent, name))
      return name;
  return std::nullopt;
}

field_result<std::optional<std::string_view>> optional_enum(const boost::json::object& data, std::string_view field,
                                                            std::span<const std::string_view> names) {
  auto text = optional_string(data, field, 64);
  if (auto* error = std::get_if<protocol_error>(&text))
    return *error;
  auto& value = std::get<std::optional<std::string>>(text);
  if (!value)
    return std::optional<std::string_view>{};
  if (auto name = match_enum(*value, names))
    return std::optional<std::string_view>{name};
  return invalid_field(field, std::string{field} + " must be " + listed(names) + " (in any case)");
}

field_result<keeping_fields> read_keeping_fields(const boost::json::object& data) {
  keeping_fields fields;
  auto pinned = optional_flag(data, "pinned");
  if (auto* error = std::get_if<protocol_error>(&pinned))
    return *error;
  fields.pinned = std::get<std::optional<bool>>(pinned);
  auto priority = optional_enum(data, "priority", priority_names);
  if (auto* error = std::get_if<protocol_error>(&priority))
    return *error;
  if (auto& named = std::get<std::optional<std::string_view>>(priority))
    fields.priority = std::string{*named};
  return fields;
}

} // namespace modeld::protocol
