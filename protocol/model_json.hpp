// JSON shapes of the model domain (PROTOCOL.md): catalog entries, metadata, and the
// metadata patch a put_model_metadata carries, with its normalization and limits.
#pragma once

#include "actors/catalog_messages.hpp"
#include "protocol/fields.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace modeld::protocol {

// 2026-11-27T15:27:04.123Z
std::string iso8601_utc(std::int64_t epoch_ms);

// A model as get_models and get_model list it: `loaded_on`, the devices it is resident on now
// (another node's as NAME/ID), and `loaded` when there is one.
boost::json::object model_json(const actors::model_record& record, const std::vector<std::string>& loaded_on);

// The metadata shape of PROTOCOL.md ("metadata: {model_id, name, type, ...}").
boost::json::object metadata_json(const actors::model_record& record);

// Tags as stored: trimmed, inner whitespace collapsed to one space, in the case they were sent
// in; empty ones dropped, and duplicates, ignoring case (catalog::fold_case), too (the first
// spelling kept). Control characters, more than max_tags tags, or a tag longer than
// max_tag_length are an error.
inline constexpr std::size_t max_tags = 64;
inline constexpr std::size_t max_tag_length = 64;
field_result<std::vector<std::string>> normalize_tags(const boost::json::value& tags);

// The `metadata` object of put_model_metadata as a patch; INVALID_REQUEST naming the field
// for a wrong type or a length over the limits.
inline constexpr std::size_t max_short_field = 256;
inline constexpr std::size_t max_description = 16384;
inline constexpr std::size_t max_custom_bytes = 65536;
field_result<catalog::metadata_patch> parse_metadata_patch(const boost::json::object& metadata);

// get_models filters and paging.
inline constexpr std::uint64_t max_page = 1000;
field_result<actors::model_query> parse_model_query(const boost::json::object& data);

} // namespace modeld::protocol
