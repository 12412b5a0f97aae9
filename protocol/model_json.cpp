#include "protocol/model_json.hpp"

#include "catalog/case_fold.hpp"
#include "protocol/json_writer.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <span>
#include <tuple>

namespace modeld::protocol {
namespace json = boost::json;
namespace {

json::value parsed_or(const std::string& text, json::value fallback) {
  json::error_code ec;
  json::parse_options options;
  options.max_depth = 64; // as deep as a request may nest (envelope.cpp), so custom comes back whole
  auto value = json::parse(text, ec, {}, options);
  return ec ? fallback : value;
}

json::value optional_text(const std::optional<std::string>& text) {
  return text ? json::value(*text) : json::value(nullptr);
}

double size_mb(std::uint64_t bytes) { return std::round(static_cast<double>(bytes) / (1024.0 * 1024.0) * 100.0) / 100.0; }

std::string default_name(const catalog::catalog_entry& entry) {
  return std::filesystem::path(entry.model_id).stem().string();
}

// The values of catalog fields (PROTOCOL.md, "Identity and vocabulary"), which get_models
// filters match in any case.
constexpr std::array<std::string_view, 7> format_names{"safetensors", "pytorch_zip", "pickle", "torchscript",
                                                       "gguf",        "onnx",        "unknown"};
constexpr std::array<std::string_view, 8> type_names{"checkpoint", "unet", "vae", "text_encoder",
                                                     "lora",       "controlnet", "llm", "unknown"};
constexpr std::array<std::string_view, 13> architecture_names{
  "sd1", "sd2", "sdxl", "sdxl_refiner", "sd3", "flux", "vae", "lora", "controlnet", "clip", "t5", "llama", "unknown"};

bool has_control_character(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7F)
      return true;
  return false;
}

std::string normalize_tag(std::string_view raw) {
  std::string tag;
  bool space = false;
  for (char c : raw) {
    if (c == ' ' || c == '\t') {
      space = !tag.empty();
      continue;
    }
    if (space)
      tag.push_back(' ');
    space = false;
    tag.push_back(c);
  }
  return tag;
}

// Reads an optional text field of the patch into `target`.
std::optional<protocol_error> read_text(const json::object& metadata, std::string_view field, std::size_t max,
                                        std::optional<std::string>& target) {
  auto value = optional_string(metadata, field, max);
  if (auto* error = std::get_if<protocol_error>(&value))
    return *error;
  target = std::get<std::optional<std::string>>(value);
  return std::nullopt;
}

} // namespace

std::string iso8601_utc(std::int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(epoch_ms % 1000));
  return text;
}

json::object model_json(const actors::model_record& record, const std::vector<std::string>& loaded_on) {
  auto& e = record.entry;
  auto& m = record.metadata;
  return {
    {"model_id", e.model_id},
    {"name", m.name ? *m.name : default_name(e)},
    {"path", e.path},
    {"format", e.format},
    {"type", e.type},
    {"architecture", e.architecture},
    {"precision", e.precision},
    {"size_bytes", e.size_bytes},
    {"size_mb", size_mb(e.size_bytes)},
    {"parameter_count", e.parameter_count},
    {"tags", string_array(m.tags)},
    {"loaded", !loaded_on.empty()},
    {"loaded_on", string_array(loaded_on)},
    {"checksum", e.sha256.empty() ? json::value(nullptr) : json::value(e.sha256)},
    {"autov2", e.autov2.empty() ? json::value(nullptr) : json::value(e.autov2)},
    {"components", parsed_or(e.components_json, json::array{})},
    {"is_valid", e.is_valid},
    {"invalid_reason", e.is_valid ? json::value(nullptr) : json::value(e.invalid_reason)},
    {"revision", m.revision},
    {"discovered_at", iso8601_utc(e.discovered_at_ms)},
    {"updated_at", iso8601_utc(std::max(e.updated_at_ms, m.updated_at_ms))},
  };
}

json::object metadata_json(const actors::model_record& record) {
  auto& e = record.entry;
  auto& m = record.metadata;
  return {
    {"model_id", e.model_id},
    {"name", m.name ? *m.name : default_name(e)},
    {"type", e.type},
    {"architecture", e.architecture},
    {"format", e.format},
    {"precision", e.precision},
    {"size_bytes", e.size_bytes},
    {"size_mb", size_mb(e.size_bytes)},
    {"parameter_count", e.parameter_count},
    {"tags", string_array(m.tags)},
    {"description", optional_text(m.description)},
    {"author", optional_text(m.author)},
    {"license", optional_text(m.license)},
    {"source", optional_text(m.source)},
    {"version", optional_text(m.version)},
    {"checksum", e.sha256.empty() ? json::value(nullptr) : json::value(e.sha256)},
    {"revision", m.revision},
    {"created_at", iso8601_utc(m.created_at_ms != 0 ? m.created_at_ms : e.discovered_at_ms)},
    {"updated_at", iso8601_utc(std::max(e.updated_at_ms, m.updated_at_ms))},
    {"embedded", parsed_or(e.embedded_json, json::object{})},
    {"custom", parsed_or(m.custom_json, json::object{})},
    {"pinned", m.pinned ? json::value(*m.pinned) : json::value(nullptr)},
    {"priority", m.priority ? json::value(*m.priority) : json::value(nullptr)},
  };
}

field_result<std::vector<std::string>> normalize_tags(const json::value& tags) {
  if (!tags.is_array())
    return invalid_field("tags", "tags must be an array of strings");
  std::vector<std::string> out;
  std::vector<std::string> folded; // of `out`: a tag that differs only in case is a duplicate
  for (auto& item : tags.get_array()) {
    if (!item.is_string())
      return invalid_field("tags", "tags must be an array of strings");
    if (has_control_character(item.get_string()))
      return invalid_field("tags", "a tag contains a control character");
    auto tag = normalize_tag(item.get_string());
    if (tag.size() > max_tag_length) {
      std::size_t shown = 32; // whole UTF-8 characters only, or the answer is not valid UTF-8
      while (shown > 0 && (static_cast<unsigned char>(tag[shown]) & 0xC0) == 0x80)
        --shown;
      return invalid_field("tags", "tag '" + tag.substr(0, shown) + "...' is longer than " +
                                     std::to_string(max_tag_length) + " bytes");
    }
    auto tag_folded = catalog::fold_case(tag);
    if (tag.empty() || std::find(folded.begin(), folded.end(), tag_folded) != folded.end())
      continue;
    out.push_back(std::move(tag));
    folded.push_back(std::move(tag_folded));
    if (out.size() > max_tags)
      return invalid_field("tags", "more than " + std::to_string(max_tags) + " tags");
  }
  return out;
}

field_result<catalog::metadata_patch> parse_metadata_patch(const json::object& metadata) {
  catalog::metadata_patch patch;
  for (auto [field, max, target] : {std::tuple{"name", max_short_field, &patch.name},
                                    std::tuple{"description", max_description, &patch.description},
                                    std::tuple{"author", max_short_field, &patch.author},
                                    std::tuple{"license", max_short_field, &patch.license},
                                    std::tuple{"source", max_short_field, &patch.source},
                                    std::tuple{"version", max_short_field, &patch.version}})
    if (auto error = read_text(metadata, field, max, *target))
      return *error;
  if (auto* tags = metadata.if_contains("tags")) {
    auto normalized = normalize_tags(*tags);
    if (auto* error = std::get_if<protocol_error>(&normalized))
      return *error;
    patch.tags = std::get<std::vector<std::string>>(normalized);
  }
  if (auto* custom = metadata.if_contains("custom")) {
    if (!custom->is_object())
      return invalid_field("custom", "custom must be an object");
    auto text = json::serialize(*custom);
    if (text.size() > max_custom_bytes)
      return invalid_field("custom", "custom is larger than " + std::to_string(max_custom_bytes) + " bytes");
    patch.custom_json = std::move(text);
  }
  // The model's defaults for its loads (post_model_load's own fields win).
  auto keeping = read_keeping_fields(metadata);
  if (auto* error = std::get_if<protocol_error>(&keeping))
    return *error;
  patch.pinned = std::get<keeping_fields>(keeping).pinned;
  patch.priority = std::get<keeping_fields>(keeping).priority;
  return patch;
}

field_result<actors::model_query> parse_model_query(const json::object& data) {
  actors::model_query query;
  using vocabulary = std::span<const std::string_view>;
  for (auto [field, target, names] : {std::tuple{"type", &query.type, vocabulary{type_names}},
                                      std::tuple{"architecture", &query.architecture, vocabulary{architecture_names}},
                                      std::tuple{"format", &query.format, vocabulary{format_names}}}) {
    auto value = optional_string(data, field, max_short_field);
    if (auto* error = std::get_if<protocol_error>(&value))
      return *error;
    // The catalog holds the vocabulary's spelling; a value outside it is kept and matches nothing.
    if (auto& sent = std::get<std::optional<std::string>>(value))
      *target = std::string{match_enum(*sent, names).value_or(*sent)};
  }
  auto tag = optional_string(data, "tag", max_short_field);
  if (auto* error = std::get_if<protocol_error>(&tag))
    return *error;
  if (auto& sent = std::get<std::optional<std::string>>(tag))
    query.tag = normalize_tag(*sent);
  auto loaded = optional_flag(data, "loaded");
  if (auto* error = std::get_if<protocol_error>(&loaded))
    return *error;
  query.loaded = std::get<std::optional<bool>>(loaded);
  auto offset = optional_count(data, "offset", std::numeric_limits<std::uint32_t>::max());
  if (auto* error = std::get_if<protocol_error>(&offset))
    return *error;
  query.offset = std::get<std::optional<std::uint64_t>>(offset).value_or(0);
  auto limit = optional_count(data, "limit", max_page);
  if (auto* error = std::get_if<protocol_error>(&limit))
    return *error;
  query.limit = std::get<std::optional<std::uint64_t>>(limit).value_or(100);
  return query;
}

} // namespace modeld::protocol
