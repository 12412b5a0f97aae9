// Typed reads of request fields, each failing with INVALID_REQUEST naming the field.
#pragma once

#include "protocol/errors.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace modeld::protocol {

template <class T>
using field_result = std::variant<T, protocol_error>;

field_result<std::optional<std::string>> optional_string(const boost::json::object& data, std::string_view field,
                                                         std::size_t max_length = 4096);

// The model_id every model command needs: a non-empty string.
inline constexpr std::size_t max_model_id = 4096;
field_result<std::string> required_model_id(const boost::json::object& data);

// A loaded model's priority for eviction (post_model_load, and a model's default in its metadata).
inline constexpr std::array<std::string_view, 3> priority_names{"low", "normal", "high"};

// true or false.
field_result<std::optional<bool>> optional_flag(const boost::json::object& data, std::string_view field);

// How a loaded model is kept from eviction: `pinned` and `priority` (one of priority_names),
// each none when absent. Read alike from post_model_load and from a model's metadata defaults.
struct keeping_fields {
  std::optional<bool> pinned;
  std::optional<std::string> priority;
};
field_result<keeping_fields> read_keeping_fields(const boost::json::object& data);


// A whole number from 0 to max (JSON integers, or doubles with no fraction).
field_result<std::optional<std::uint64_t>> optional_count(const boost::json::object& data, std::string_view field,
                                                          std::uint64_t max);

// Enum values (validation_level, dtype, mode, filter values, ...) are matched ignoring ASCII
// case and the separators '_' and '-': .NET's JsonStringEnumConverter sends the C# member name
// ("Comprehensive", "Fp16", "MetadataStore"), other clients snake_case or upper case. Every
// enum name of the protocol is ASCII, so no wider folding is needed.
bool same_enum_value(std::string_view sent, std::string_view name);

// The name in `names` that `sent` spells, or none.
std::optional<std::string_view> match_enum(std::string_view sent, std::span<const std::string_view> names);

// An optional enum-valued field: the matching name of `names` (as listed there), none when the
// field is absent; INVALID_REQUEST naming the field and the names otherwise.
field_result<std::optional<std::string_view>> optional_enum(const boost::json::object& data, std::string_view field,
                                                            std::span<const std::string_view> names);

} // namespace modeld::protocol
