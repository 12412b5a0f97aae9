#include "protocol/envelope.hpp"

#include "protocol/json_writer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace modeld::protocol {
namespace json = boost::json;
namespace {

constexpr std::array<std::string_view, 3> known_domains{"model", "device", "system"};
constexpr std::array<std::string_view, 8> envelope_keys{
  "request_id", "worker_type", "domain", "command", "action", "data", "stream", "timeout_ms"};

bool is_known_domain(std::string_view domain) {
  for (auto d : known_domains)
    if (d == domain)
      return true;
  return false;
}

bool is_envelope_key(std::string_view key) {
  for (auto k : envelope_keys)
    if (k == key)
      return true;
  return false;
}

// Takes `primary`, else `alias`; both set with different values is ambiguous.
std::variant<json::value, protocol_error> take_aliased(json::object& object, std::string_view primary,
                                                       std::string_view alias) {
  auto* a = object.if_contains(primary);
  auto* b = object.if_contains(alias);
  if (a && b && *a != *b)
    return invalid_field(primary, std::string{primary} + " and " + std::string{alias} + " disagree");
  if (a)
    return *a;
  if (b)
    return *b;
  return json::value{};
}

std::optional<protocol_error> read_request_id(json::object& envelope, request& out) {
  auto* id = envelope.if_contains("request_id");
  if (id == nullptr)
    return std::nullopt;
  if (!id->is_string() && !id->is_int64() && !id->is_uint64())
    return invalid_field("request_id", "request_id must be a string or an integer");
  out.request_id = *id;
  return std::nullopt;
}

std::optional<protocol_error> read_command(json::object& envelope, request& out) {
  auto domain = take_aliased(envelope, "worker_type", "domain");
  if (auto* error = std::get_if<protocol_error>(&domain))
    return *error;
  auto& domain_value = std::get<json::value>(domain);
  if (!domain_value.is_null() && !domain_value.is_string())
    return invalid_field("worker_type", "worker_type must be a string");
  out.domain = domain_value.is_string() ? to_snake_case(domain_value.get_string()) : "model";
  if (!is_known_domain(out.domain))
    return invalid_field("worker_type", "unknown worker_type '" + out.domain + "' (model, device or system)");

  auto command = take_aliased(envelope, "command", "action");
  if (auto* error = std::get_if<protocol_error>(&command))
    return *error;
  auto& command_value = std::get<json::value>(command);
  if (command_value.is_null())
    return invalid_field("command", "command is missing");
  if (!command_value.is_string() || command_value.get_string().empty())
    return invalid_field("command", "command must be a non-empty string");
  std::string_view name = command_value.get_string();
  if (auto dot = name.find('.'); dot != std::string_view::npos) {
    auto prefix = to_snake_case(name.substr(0, dot));
    if (!is_known_domain(prefix))
      return invalid_field("command", "unknown domain prefix '" + prefix + "'");
    out.domain = prefix;
    name.remove_prefix(dot + 1);
  }
  out.command = to_snake_case(name);
  return std::nullopt;
}

std::optional<protocol_error> read_options(json::object& envelope, request& out) {
  if (auto* stream = envelope.if_contains("stream")) {
    if (!stream->is_bool())
      return invalid_field("stream", "stream must be true or false");
    out.stream = stream->get_bool();
  }
  if (auto* timeout = envelope.if_contains("timeout_ms")) {
    double ms = -1;
    if (timeout->is_int64())
      ms = static_cast<double>(timeout->get_int64());
    else if (timeout->is_uint64())
      ms = static_cast<double>(timeout->get_uint64());
    else if (timeout->is_double())
      ms = timeout->get_double();
    if (!(ms > 0) || !std::isfinite(ms) || ms > 7.0 * 24 * 3600 * 1000)
      return invalid_field("timeout_ms", "timeout_ms must be a positive number of milliseconds (at most a week)");
    out.timeout = std::chrono::milliseconds{static_cast<long long>(std::ceil(ms))};
  }
  return std::nullopt;
}

std::optional<protocol_error> read_data(json::object& envelope, request& out) {
  if (auto* data = envelope.if_contains("data")) {
    if (!data->is_object())
      return invalid_field("data", "data must be an object");
    out.data = std::move(data->get_object());
  }
  // Old Python workers read fields from the flat request; data wins on a clash.
  for (auto& entry : envelope)
    if (!is_envelope_key(entry.key()) && !out.data.contains(entry.key()))
      out.data.emplace(entry.key(), std::move(entry.value()));
  return std::nullopt;
}

// The response envelope's keys in each style, spelled once.
struct response_keys {
  std::string request_id, success, data, processing_time_ms;
  explicit response_keys(key_case style)
    : request_id(from_snake_case("request_id", style)), success(from_snake_case("success", style)),
      data(from_snake_case("data", style)), processing_time_ms(from_snake_case("processing_time_ms", style)) {}
};

const response_keys& keys_of(key_case style) {
  static const response_keys snake{key_case::snake}, camel{key_case::camel}, pascal{key_case::pascal};
  return style == key_case::snake ? snake : style == key_case::camel ? camel : pascal;
}

// Appends `,"processing_time_ms":1.234}` and the newline, in plain decimal notation (Boost.JSON
// would write 1.234E0).
void append_processing_time(std::string& line, double processing_time_ms, key_case style) {
  line += ",\"";
  line += keys_of(style).processing_time_ms;
  line += "\":";
  char digits[400]; // room for any double in fixed notation
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, std::max(0.0, processing_time_ms),
                                 std::chars_format::fixed, 3);
  line.append(digits, ec == std::errc{} ? end : digits);
  line += "}\n";
}

std::string finish_line(json::object response, key_case style) {
  json::value value(std::move(response));
  apply_key_case(value, style);
  auto line = to_json(value);
  line.push_back('\n');
  return line;
}

// Appends processing_time_ms in plain decimal notation (Boost.JSON would write 1.23E-1).
std::string with_processing_time(json::object response, double processing_time_ms, key_case style) {
  auto line = finish_line(std::move(response), style);
  line.resize(line.size() - 2); // the closing brace and newline
  append_processing_time(line, processing_time_ms, style);
  return line;
}


} // namespace

std::string request_id_text(const json::value& id) {
  if (id.is_string())
    return std::string{id.get_string()};
  if (id.is_int64())
    return std::to_string(id.get_int64());
  if (id.is_uint64())
    return std::to_string(id.get_uint64());
  return {};
}

std::variant<request, rejected_request> parse_request(std::string_view line) {
  json::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  auto parsed = json::parse(line, ec, {}, options);
  if (ec)
    return rejected_request{nullptr, {error_code::invalid_json, "request is not valid JSON: " + ec.message()}};
  if (!parsed.is_object())
    return rejected_request{nullptr, {error_code::invalid_request, "request must be a JSON object"}};
  request out;
  if (auto clash = normalize_fields(parsed)) {
    auto* raw_id = parsed.get_object().if_contains("request_id");
    json::value id = raw_id && (raw_id->is_string() || raw_id->is_int64()) ? *raw_id : json::value{};
    return rejected_request{std::move(id), invalid_field(*clash, "field '" + *clash + "' is given twice in different styles")};
  }
  auto& envelope = parsed.get_object();
  for (auto step : {read_request_id, read_command, read_options, read_data})
    if (auto error = step(envelope, out))
      return rejected_request{std::move(out.request_id), std::move(*error)};
  return out;
}

namespace {

// {request_id, success, <payload_key>: payload} plus processing_time_ms.
std::string response_line(const json::value& request_id, bool success, std::string_view payload_key,
                          json::value payload, double processing_time_ms, key_case style) {
  json::object response;
  response.reserve(4);
  response.emplace("request_id", request_id);
  response.emplace("success", success);
  response.emplace(payload_key, std::move(payload));
  return with_processing_time(std::move(response), processing_time_ms, style);
}

} // namespace

std::string success_line(const json::value& request_id, json::value data, double processing_time_ms, key_case style) {
  return response_line(request_id, true, "data", std::move(data), processing_time_ms, style);
}

line_frame success_frame(const json::value& request_id, double processing_time_ms, key_case style) {
  auto& keys = keys_of(style);
  line_frame frame;
  frame.head += "{\"";
  frame.head += keys.request_id;
  frame.head += "\":";
  write_json(request_id, frame.head);
  frame.head += ",\"";
  frame.head += keys.success;
  frame.head += "\":true,\"";
  frame.head += keys.data;
  frame.head += "\":";
  append_processing_time(frame.tail, processing_time_ms, style);
  return frame;
}

std::string error_line(const json::value& request_id, const protocol_error& error, double processing_time_ms,
                       key_case style) {
  json::object body{{"code", to_string(error.code)}, {"message", error.message}, {"details", error.details}};
  return response_line(request_id, false, "error", std::move(body), processing_time_ms, style);
}

std::string event_line(json::object event, key_case style) { return finish_line(std::move(event), style); }

} // namespace modeld::protocol
