#include "catalog/report_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <charconv>

namespace modeld::catalog {
namespace json = boost::json;
namespace {

json::object metadata_object(const formats::metadata_map& map) {
  json::object out;
  for (auto& [key, value] : map)
    out[key] = value;
  return out;
}

// formats/ reports every structure fact as text (a metadata_map); the facts below are whole
// numbers or booleans and are answered as JSON numbers and booleans. A value that does not
// read as one (a damaged file's version record, say) keeps its text rather than vanishing.
constexpr std::array<std::string_view, 12> integer_facts{
  "header_length", "data_start", "tensor_count", "gguf_version",      "kv_count",    "alignment",
  "data_offset",   "ir_version", "node_count",   "initializer_count", "entry_count", "version"};
constexpr std::array<std::string_view, 1> boolean_facts{"legacy"};

json::value structure_value(std::string_view key, std::string_view text) {
  if (std::find(boolean_facts.begin(), boolean_facts.end(), key) != boolean_facts.end() &&
      (text == "true" || text == "false"))
    return text == "true";
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (std::find(integer_facts.begin(), integer_facts.end(), key) != integer_facts.end() && !text.empty() &&
      ec == std::errc{} && end == text.data() + text.size() && (text.size() == 1 || text.front() != '0'))
    return number;
  return json::string(text);
}

json::object structure_object(const formats::metadata_map& facts) {
  json::object out;
  for (auto& [key, text] : facts)
    out[key] = structure_value(key, text);
  return out;
}

json::array components_array(const formats::model_report& report) {
  json::array components;
  for (auto& c : report.components) {
    json::array dtypes;
    for (auto& d : c.dtypes)
      dtypes.emplace_back(d);
    components.emplace_back(json::object{{"name", c.name},
                                         {"tensor_count", c.tensor_count},
                                         {"parameter_count", c.parameter_count},
                                         {"bytes", c.bytes},
                                         {"dtypes", std::move(dtypes)}});
  }
  return components;
}

json::array issues_array(const formats::model_report& report) {
  json::array issues;
  for (auto& i : report.issues) {
    json::object item{{"code", i.code}, {"severity", formats::to_string(i.level)}, {"message", i.message}};
    if (i.location.tensor || i.location.offset) {
      json::object location;
      if (i.location.tensor)
        location["tensor"] = *i.location.tensor;
      if (i.location.offset)
        location["offset"] = *i.location.offset;
      item["location"] = std::move(location);
    }
    issues.emplace_back(std::move(item));
  }
  return issues;
}

json::array strings(const std::vector<std::string>& values) {
  json::array out;
  for (auto& v : values)
    out.emplace_back(v);
  return out;
}

} // namespace

std::string_view to_string(formats::validation_level level) {
  switch (level) {
    case formats::validation_level::basic: return "basic";
    case formats::validation_level::standard: return "standard";
    case formats::validation_level::comprehensive: return "comprehensive";
  }
  return "standard";
}

json::object validation_json(const formats::model_report& report, formats::validation_level level) {
  json::object details{
    {"format", formats::to_string(report.format)},
    {"level", to_string(level)},
    {"file",
     {{"exists", report.file.exists},
      {"size_bytes", report.file.size_bytes},
      {"extension", report.file.extension},
      {"readable", report.file.readable}}},
    {"structure", structure_object(report.structure)},
    {"security",
     {{"scanned", report.security.scanned},
      {"unsafe_globals", strings(report.security.unsafe_globals)},
      {"unknown_globals", strings(report.security.unknown_globals)}}},
  };
  if (report.checksums)
    details["checksums"] = {{"sha256", report.checksums->sha256},
                            {"autov2", report.checksums->autov2},
                            {"autov1", report.checksums->autov1},
                            {"tensor_sha256", report.checksums->tensor_sha256}};
  if (report.numerics)
    details["numerics"] = {{"nan_count", report.numerics->nan_count},
                           {"inf_count", report.numerics->inf_count},
                           {"values_scanned", report.numerics->values_scanned},
                           {"tensors_scanned", report.numerics->tensors_scanned}};
  return {
    {"is_valid", report.is_valid()},
    {"validation_details", std::move(details)},
    {"issues", issues_array(report)},
    {"data",
     {{"architecture", report.architecture},
      {"type", report.type},
      {"precision", report.precision},
      {"parameter_count", report.parameter_count},
      {"tensor_count", report.tensors.size()},
      {"tensor_bytes", report.tensor_bytes},
      {"components", components_array(report)},
      {"embedded", metadata_object(report.embedded)}}},
  };
}

void type_structure_values(json::object& validation_result) {
  auto* details = validation_result.if_contains("validation_details");
  auto* structure = details && details->is_object() ? details->get_object().if_contains("structure") : nullptr;
  if (structure == nullptr || !structure->is_object())
    return;
  for (auto& fact : structure->get_object())
    if (fact.value().is_string())
      fact.value() = structure_value(fact.key(), fact.value().get_string());
}

std::string invalid_reason(const formats::model_report& report) {
  for (auto& i : report.issues)
    if (i.level == formats::severity::error)
      return i.code + ": " + i.message;
  return {};
}

std::pair<bool, std::string> validity_of(const json::object& validation_result) {
  const auto* valid = validation_result.if_contains("is_valid");
  if (valid == nullptr || !valid->is_bool() || valid->get_bool())
    return {true, {}};
  std::string reason;
  const auto* issues = validation_result.if_contains("issues");
  if (issues != nullptr && issues->is_array())
    for (auto& item : issues->get_array()) {
      const auto* issue = item.if_object();
      if (issue == nullptr)
        continue;
      const auto* severity = issue->if_contains("severity");
      if (severity == nullptr || !severity->is_string() || severity->get_string() != "error")
        continue;
      const auto* code = issue->if_contains("code");
      const auto* message = issue->if_contains("message");
      const auto text = [](const json::value* v) {
        return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
      };
      reason = text(code) + ": " + text(message);
      break;
    }
  return {false, reason.empty() ? std::string("the validation found errors") : reason};
}

void fill_catalog_entry(catalog_entry& entry, const formats::model_report& report) {
  entry.format = std::string{formats::to_string(report.format)};
  entry.architecture = report.architecture;
  entry.type = report.type;
  entry.precision = report.precision;
  entry.parameter_count = report.parameter_count;
  entry.components_json = json::serialize(components_array(report));
  entry.embedded_json = json::serialize(metadata_object(report.embedded));
  if (report.checksums) {
    entry.sha256 = report.checksums->sha256;
    entry.autov2 = report.checksums->autov2;
  }
  entry.is_valid = report.is_valid();
  entry.invalid_reason = invalid_reason(report);
}

namespace {

// Calls `each(component, name)` for every component of `components_json` that has a string name;
// false when the text is no JSON array (nothing called).
template <class Each>
bool each_named_component(json::value& parsed, const std::string& components_json, Each each) {
  boost::system::error_code ec;
  parsed = json::parse(components_json, ec);
  if (ec || !parsed.is_array())
    return false;
  for (auto& c : parsed.get_array())
    if (auto* item = c.if_object())
      if (auto* name = item->if_contains("name"); name && name->is_string())
        each(*item, std::string{name->get_string()});
  return true;
}

} // namespace

std::vector<formats::component_identity> component_identities(const std::string& components_json) {
  std::vector<formats::component_identity> identities;
  json::value parsed;
  each_named_component(parsed, components_json, [&](json::object& component, std::string name) {
    if (auto* identity = component.if_contains("identity"); identity && identity->is_string())
      identities.push_back({std::move(name), std::string{identity->get_string()}});
  });
  return identities;
}

std::string with_component_identities(const std::string& components_json,
                                      const std::vector<formats::component_identity>& identities) {
  json::value parsed;
  auto listed = each_named_component(parsed, components_json, [&](json::object& component, const std::string& name) {
    if (auto identity = formats::identity_of(identities, name))
      component["identity"] = *identity;
  });
  return listed ? json::serialize(parsed) : components_json;
}

} // namespace modeld::catalog
