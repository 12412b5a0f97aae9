#include "protocol/key_style.hpp"

#include "protocol/fields.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cctype>
#include <tuple>

namespace modeld::protocol {
namespace {

bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower_or_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
char lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool needs_rewrite(std::string_view key) {
  for (char c : key)
    if (is_upper(c) || c == '-' || c == ' ')
      return true;
  return false;
}

} // namespace

std::string to_snake_case(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 4);
  for (std::size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c == '-' || c == ' ')
      c = '_';
    if (is_upper(c) && i > 0) {
      char prev = key[i - 1];
      bool next_lower = i + 1 < key.size() && key[i + 1] >= 'a' && key[i + 1] <= 'z';
      if (is_lower_or_digit(prev) || (is_upper(prev) && next_lower))
        if (!out.empty() && out.back() != '_')
          out.push_back('_');
    }
    out.push_back(lower(c));
  }
  return out;
}

std::string from_snake_case(std::string_view snake_key, key_case style) {
  if (style == key_case::snake)
    return std::string{snake_key};
  std::string out;
  out.reserve(snake_key.size());
  bool capitalize = style == key_case::pascal;
  for (char c : snake_key) {
    if (c == '_') {
      capitalize = true;
      continue;
    }
    out.push_back(capitalize ? upper(c) : c);
    capitalize = false;
  }
  return out;
}

std::optional<key_case> parse_key_case(std::string_view name) {
  for (auto [style, short_name, long_name] : {std::tuple{key_case::snake, "snake", "snake_case"},
                                              std::tuple{key_case::camel, "camel", "camel_case"},
                                              std::tuple{key_case::pascal, "pascal", "pascal_case"}})
    if (same_enum_value(name, short_name) || same_enum_value(name, long_name))
      return style;
  return std::nullopt;
}

bool is_free_form_key(std::string_view snake_key) {
  static constexpr std::array<std::string_view, 2> free_form{"custom", "embedded"};
  for (auto k : free_form)
    if (k == snake_key)
      return true;
  return false;
}

std::optional<std::string> normalize_fields(boost::json::value& value) {
  if (auto* array = value.if_array()) {
    for (auto& element : *array)
      if (auto clash = normalize_fields(element))
        return clash;
    return std::nullopt;
  }
  auto* object = value.if_object();
  if (object == nullptr)
    return std::nullopt;
  bool rewrite = false;
  for (auto& entry : *object)
    rewrite = rewrite || needs_rewrite(entry.key()) || entry.value().is_null();
  if (rewrite) {
    boost::json::object normalized(object->storage());
    normalized.reserve(object->size());
    for (auto& entry : *object) {
      if (entry.value().is_null())
        continue;
      auto key = to_snake_case(entry.key());
      if (normalized.contains(key))
        return key;
      normalized.emplace(key, std::move(entry.value()));
    }
    *object = std::move(normalized);
  }
  for (auto& entry : *object)
    if (!is_free_form_key(entry.key()))
      if (auto clash = normalize_fields(entry.value()))
        return clash;
  return std::nullopt;
}

void apply_key_case(boost::json::value& value, key_case style) {
  if (style == key_case::snake)
    return;
  if (auto* array = value.if_array()) {
    for (auto& element : *array)
      apply_key_case(element, style);
    return;
  }
  auto* object = value.if_object();
  if (object == nullptr)
    return;
  boost::json::object styled(object->storage());
  styled.reserve(object->size());
  for (auto& entry : *object) {
    if (!is_free_form_key(entry.key()))
      apply_key_case(entry.value(), style);
    styled.emplace(from_snake_case(entry.key(), style), std::move(entry.value()));
  }
  *object = std::move(styled);
}

} // namespace modeld::protocol
