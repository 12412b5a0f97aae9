// Typed reads of request fields, each failing with INVALID_REQUEST naming the field.
#pragma once

#include "protocol/errors.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
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

// A whole number from 0 to max (JSON integers, or doubles with no fraction).
field_result<std::optional<std::uint64_t>> optional_count(const boost::json::object& data, std::string_view field,
                                                          std::uint64_t max);

} // namespace modeld::protocol
