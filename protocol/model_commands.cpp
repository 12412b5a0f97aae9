#include "protocol/model_commands.hpp"

#include "actors/epoch.hpp"
#include "actors/status_view.hpp"
#include "catalog/report_json.hpp"
#include "protocol/actor_call.hpp"
#include "protocol/json_writer.hpp"
#include "protocol/load_commands.hpp"
#include "protocol/model_json.hpp"
#include "protocol/progress_events.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include <array>

namespace modeld::protocol {
namespace json = boost::json;
using namespace actors;

namespace {


protocol_error model_not_found(const std::string& model_id) {
  protocol_error error{error_code::model_not_found, "model '" + model_id + "' is not in the catalog"};
  error.details["model_id"] = model_id;
  return error;
}

// Looks a model up in the store: the record, or the error to answer with.
asio::awaitable<std::variant<model_record, protocol_error>> lookup(service_context& context, const json::object& data) {
  auto id = required_model_id(data);
  if (auto* error = std::get_if<protocol_error>(&id))
    co_return *error;
  auto& model_id = std::get<std::string>(id);
  auto reply = co_await ask<model_lookup>(context.bridge, context.services->store(), caf::infinite, get_atom::value, model_id);
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, "catalog lookup");
  auto& found = std::get<model_lookup>(reply);
  if (!found.found)
    co_return model_not_found(model_id);
  co_return std::move(found.record);
}

field_result<formats::validation_level> read_level(const json::object& data) {
  static constexpr std::array<std::string_view, 3> names{"basic", "standard", "comprehensive"};
  auto level = optional_enum(data, "validation_level", names);
  if (auto* error = std::get_if<protocol_error>(&level))
    return *error;
  auto& value = std::get<std::optional<std::string_view>>(level);
  if (!value || *value == "standard")
    return formats::validation_level::standard;
  return *value == "basic" ? formats::validation_level::basic : formats::validation_level::comprehensive;
}

// Which file a validation names: model_id (catalog) or model_path (inside the roots).
field_result<std::pair<std::string, bool>> validation_target(const json::object& data) {
  auto path = optional_string(data, "model_path", max_model_id);
  if (auto* error = std::get_if<protocol_error>(&path))
    return *error;
  if (auto& value = std::get<std::optional<std::string>>(path); value && !value->empty())
    return std::pair{*value, true};
  auto id = required_model_id(data);
  if (std::holds_alternative<protocol_error>(id))
    return invalid_field("model_id", "model_id or model_path is required");
  return std::pair{std::get<std::string>(id), false};
}

json::value validation_answer(const std::string& result_json, const std::string& model_id, bool from_cache) {
  json::error_code ec;
  auto value = json::parse(result_json, ec);
  if (ec || !value.is_object())
    value = json::object{};
  auto& object = value.get_object();
  if (from_cache)
    catalog::type_structure_values(object);
  object["model_id"] = model_id;
  object["from_cache"] = from_cache;
  return value;
}

} // namespace

model_residence loaded_models(const service_context& context) {
  model_residence residence;
  auto status = actors::read_status(*context.registry, {}, actors::epoch_ms());
  for (auto& device : status.devices)
    for (auto& model : device.status.loaded_models)
      residence[model.model_id].push_back(device.info.id);
  return residence;
}

namespace {

const std::vector<std::string>& devices_of(const model_residence& residence, const std::string& model_id) {
  static const std::vector<std::string> nowhere;
  auto found = residence.find(model_id);
  return found == residence.end() ? nowhere : found->second;
}

} // namespace

asio::awaitable<command_result> get_models(service_context& context, request& req) {
  auto query = parse_model_query(req.data);
  if (auto* error = std::get_if<protocol_error>(&query))
    co_return *error;
  auto& q = std::get<model_query>(query);
  auto residence = loaded_models(context);
  for (auto& [model_id, devices] : residence)
    q.loaded_ids.insert(model_id);
  auto page = query_models(*context.catalog->read(), q);
  json::array models;
  for (auto& record : page.models)
    models.emplace_back(model_json(record, devices_of(residence, record.entry.model_id)));
  co_return json::value(json::object{
    {"models", std::move(models)}, {"total", page.total}, {"offset", q.offset}, {"limit", q.limit}});
}

asio::awaitable<command_result> get_model(service_context& context, request& req) {
  auto id = required_model_id(req.data);
  if (auto* error = std::get_if<protocol_error>(&id))
    co_return *error;
  auto& model_id = std::get<std::string>(id);
  auto catalog = context.catalog->read();
  auto found = catalog->models.find(model_id);
  if (found == catalog->models.end())
    co_return model_not_found(model_id);
  co_return json::value(json::object{{"model", model_json(*found->second, devices_of(loaded_models(context), model_id))}});
}

asio::awaitable<command_result> post_model_scan(service_context& context, request& req) {
  auto root = optional_string(req.data, "root", max_model_id);
  if (auto* error = std::get_if<protocol_error>(&root))
    co_return *error;
  std::string only_root = std::get<std::optional<std::string>>(root).value_or("");
  while (only_root.size() > 1 && only_root.back() == '/')
    only_root.pop_back();
  if (!only_root.empty() &&
      std::find(context.model_roots.begin(), context.model_roots.end(), only_root) == context.model_roots.end()) {
    auto error = invalid_field("root", "'" + only_root + "' is not one of the model roots");
    error.details["model_roots"] = string_array(context.model_roots);
    co_return error;
  }
  // Named, not a temporary in the co_await: g++ 12 miscompiles those (see session.cpp).
  scan_request scan{only_root, progress_for(req)};
  auto reply = co_await ask<scan_summary>(context.bridge, context.scanner, caf::infinite, scan_atom::value, scan);
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, "scan");
  auto& summary = std::get<scan_summary>(reply);
  json::array errors;
  for (auto& e : summary.errors)
    errors.emplace_back(json::object{{"path", e.path}, {"code", e.code}, {"message", e.message}});
  co_return json::value(json::object{{"added", summary.added},
                                     {"updated", summary.updated},
                                     {"removed", summary.removed},
                                     {"unchanged", summary.unchanged},
                                     {"errors", std::move(errors)}});
}

asio::awaitable<command_result> post_model_validate(service_context& context, request& req) {
  auto level = read_level(req.data);
  if (auto* error = std::get_if<protocol_error>(&level))
    co_return *error;
  auto target = validation_target(req.data);
  if (auto* error = std::get_if<protocol_error>(&target))
    co_return *error;
  auto [name, is_path] = std::get<std::pair<std::string, bool>>(target);
  validate_request order{context.next_ticket++, name, is_path, std::get<formats::validation_level>(level),
                         progress_for(req)};
  auto ticket = order.ticket;
  auto reply =
    co_await ask<validate_result>(context.bridge, context.use_cases, caf::infinite, validate_atom::value, std::move(order));
  if (auto* error = std::get_if<caf::error>(&reply)) {
    drop_work(context, ticket); // the scan may stop
    co_return actor_failure(*error, "validation");
  }
  auto& result = std::get<validate_result>(reply);
  if (!result.ok)
    co_return from_failure(result.error);
  co_return validation_answer(result.result_json, result.model_id, result.from_cache);
}

asio::awaitable<command_result> get_model_metadata(service_context& context, request& req) {
  auto found = co_await lookup(context, req.data);
  if (auto* error = std::get_if<protocol_error>(&found))
    co_return *error;
  co_return json::value(metadata_json(std::get<model_record>(found)));
}

asio::awaitable<command_result> put_model_metadata(service_context& context, request& req) {
  auto id = required_model_id(req.data);
  if (auto* error = std::get_if<protocol_error>(&id))
    co_return *error;
  auto* metadata = req.data.if_contains("metadata");
  if (metadata == nullptr || !metadata->is_object())
    co_return invalid_field("metadata", "metadata must be an object");
  auto patch = parse_metadata_patch(metadata->get_object());
  if (auto* error = std::get_if<protocol_error>(&patch))
    co_return *error;
  auto expected = optional_count(req.data, "expected_revision", std::numeric_limits<std::int64_t>::max());
  if (auto* error = std::get_if<protocol_error>(&expected))
    co_return *error;
  metadata_write write{std::get<std::string>(id), std::get<catalog::metadata_patch>(patch), std::nullopt};
  if (auto& revision = std::get<std::optional<std::uint64_t>>(expected))
    write.expected_revision = static_cast<std::int64_t>(*revision);
  auto reply = co_await ask<metadata_written>(context.bridge, context.services->store(), caf::infinite, put_atom::value, write);
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, "metadata write");
  auto& written = std::get<metadata_written>(reply);
  if (!written.found)
    co_return model_not_found(write.model_id);
  if (written.outcome == catalog::put_outcome::conflict) {
    protocol_error error{error_code::conflict, "expected_revision " + std::to_string(*write.expected_revision) +
                                                 " is stale; the metadata is at revision " +
                                                 std::to_string(written.record.metadata.revision)};
    error.details["current_revision"] = written.record.metadata.revision;
    error.details["expected_revision"] = *write.expected_revision;
    co_return error;
  }
  co_return json::value(metadata_json(written.record));
}

asio::awaitable<command_result> get_model_components(service_context& context, request& req) {
  auto found = co_await lookup(context, req.data);
  if (auto* error = std::get_if<protocol_error>(&found))
    co_return *error;
  auto& record = std::get<model_record>(found);
  json::error_code ec;
  auto components = json::parse(record.entry.components_json, ec);
  co_return json::value(
    json::object{{"model_id", record.entry.model_id}, {"components", ec ? json::value(json::array{}) : components}});
}

asio::awaitable<command_result> get_model_benchmark_results(service_context& context, request& req) {
  auto found = co_await lookup(context, req.data);
  if (auto* error = std::get_if<protocol_error>(&found))
    co_return *error;
  auto& model_id = std::get<model_record>(found).entry.model_id;
  auto reply = co_await ask<std::vector<std::string>>(context.bridge, context.services->store(), caf::infinite, results_atom::value,
                                                      model_id);
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, "benchmark results");
  json::array results;
  for (auto& text : std::get<std::vector<std::string>>(reply)) {
    json::error_code ec;
    auto value = json::parse(text, ec);
    if (!ec)
      results.emplace_back(std::move(value));
  }
  co_return json::value(json::object{{"model_id", model_id}, {"results", std::move(results)}});
}

} // namespace modeld::protocol
