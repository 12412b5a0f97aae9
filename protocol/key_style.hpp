// Field-name styles. PROTOCOL.md matches field names case- and style-insensitively
// (ModelId, modelId, model_id are one field) and lets a connection ask for camel or Pascal
// keys in responses. Free-form maps (metadata.custom, embedded metadata) keep their keys.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace modeld::protocol {

enum class key_case { snake, camel, pascal };

// "ModelId", "modelId", "model-id", "MODEL_ID" -> "model_id"; "HTTPServer" -> "http_server".
std::string to_snake_case(std::string_view key);
// "model_id" -> "modelId" / "ModelId".
std::string from_snake_case(std::string_view snake_key, key_case style);

std::optional<key_case> parse_key_case(std::string_view name);

// True for keys whose value is a free-form map whose own keys must stay verbatim.
bool is_free_form_key(std::string_view snake_key);

// Rewrites every object key below `value` to snake_case and drops members whose value is
// null (what .NET serializers send for an unset optional field), except inside free-form
// maps. Returns the first key that clashes with another after normalization, if any.
std::optional<std::string> normalize_fields(boost::json::value& value);

// Rewrites snake_case response keys into `style`, leaving free-form maps alone.
void apply_key_case(boost::json::value& value, key_case style);

} // namespace modeld::protocol
