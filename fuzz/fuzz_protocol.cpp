// libFuzzer target: the wire protocol as a connection sees it, without actors or sockets.
// The input is the byte stream a client sends (NDJSON, seeds in corpus/protocol/). It runs:
//  - framing (protocol/framing.*): the stream split with the server's frame limit, and with
//    small limits (one from the input's size, fed in pseudo-random chunks; the first line's own
//    length, fed byte by byte) in one piece and in chunks, which must all give the frames of a
//    reference model of PROTOCOL.md's rules; each FRAME_TOO_LARGE is rendered;
//  - every line through parse_request (envelope, key styles, aliases, flat fields, nulls), the
//    command table (find_command), and the field reads of its command: the public readers of
//    fields.hpp and model_json.hpp, and the handlers' own readers (protocol_fields.hpp);
//  - the answer, error or success, rendered by error_line / success_line in every key case (the
//    answers that only repeat what others cover, such as UNAUTHENTICATED, TIMEOUT and the model
//    shapes, in one case picked by the line's length), the request's data echoed in camel or
//    Pascal case, progress events of stream: true (event_line through progress_for), and the
//    metadata shape of put_model_metadata.
// Every rendered line must be one line of valid JSON (strict UTF-8), as a C# client reads it,
// with request_id, success and processing_time_ms spelled in its key case, and free-form maps
// (custom) kept verbatim. A violation aborts with the line.
//
// What the session answers itself (hello, cancel, subscribe_status, unsubscribe) and the
// handlers' first lines (device_id of the status commands, root of post_model_scan) are not
// callable without a session or an actor system: their reads are mirrored here with the same
// fields.hpp calls. Everything else runs the protocol code itself.
#include "fuzz/protocol_fields.hpp"
#include "protocol/commands.hpp"
#include "protocol/envelope.hpp"
#include "protocol/fields.hpp"
#include "protocol/framing.hpp"
#include "protocol/json_writer.hpp"
#include "protocol/key_style.hpp"
#include "protocol/model_json.hpp"
#include "protocol/progress_events.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace modeld::protocol;
namespace json = boost::json;
using modeld::fuzz::fields_result;

constexpr key_case all_cases[] = {key_case::snake, key_case::camel, key_case::pascal};
constexpr std::size_t server_frame_limit = 1 << 20; // --max-frame-bytes default (limits.hpp)

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_protocol: %s: %.*s\n", what, static_cast<int>(std::min<std::size_t>(detail.size(), 4096)),
               detail.data());
  std::abort();
}

// Equal as a client compares JSON: numbers by value (the writer prints 1.0 as 1), keys in order
// ignored, everything else exactly.
bool same_json(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == b.kind())
      return a == b;
    return a.to_number<double>() == b.to_number<double>();
  }
  if (a.kind() != b.kind())
    return false;
  if (a.is_array()) {
    auto& x = a.get_array();
    auto& y = b.get_array();
    if (x.size() != y.size())
      return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!same_json(x[i], y[i]))
        return false;
    return true;
  }
  if (a.is_object()) {
    auto& x = a.get_object();
    auto& y = b.get_object();
    if (x.size() != y.size())
      return false;
    for (auto& entry : x) {
      auto* other = y.if_contains(entry.key());
      if (other == nullptr || !same_json(entry.value(), *other))
        return false;
    }
    return true;
  }
  return a == b;
}

// A response line as a client reads it: one line, a JSON object in strict UTF-8.
json::object read_line(const std::string& line) {
  if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1)
    fail("a response is not exactly one line", line);
  json::error_code ec;
  json::parse_options options;
  options.max_depth = 256; // requests nest up to 64 (envelope.cpp); .NET reads 64 by default
  auto parsed = json::parse(std::string_view{line}.substr(0, line.size() - 1), ec, {}, options);
  if (ec || !parsed.is_object())
    fail("a response is not a JSON object", line);
  return std::move(parsed.get_object());
}

const json::value& member(const json::object& object, std::string_view snake_key, key_case style,
                          const std::string& line) {
  auto* value = object.if_contains(from_snake_case(snake_key, style));
  if (value == nullptr)
    fail("a response lacks a member in its key case", line);
  return *value;
}

// No two keys of `object` that the key case turns into one (then one of them is lost: only
// client-made keys can do that, so the checks below skip such objects).
bool keys_stay_apart(const json::object& object, key_case style) {
  std::vector<std::string> styled;
  for (auto& entry : object)
    styled.push_back(from_snake_case(entry.key(), style));
  std::sort(styled.begin(), styled.end());
  return std::adjacent_find(styled.begin(), styled.end()) == styled.end();
}

// Free-form maps of `sent` (custom, at the top and in metadata) came back verbatim in `got`.
void check_free_form(const json::object& sent, const json::value& got, key_case style, const std::string& line) {
  if (!got.is_object() || !keys_stay_apart(sent, style))
    return;
  for (auto& entry : sent) {
    auto* back = got.get_object().if_contains(from_snake_case(entry.key(), style));
    if (back == nullptr)
      fail("a member of the data was lost in its key case", line);
    if (is_free_form_key(entry.key())) {
      if (!same_json(entry.value(), *back))
        fail("a free-form map was rewritten", line);
    } else if (entry.key() == "metadata" && entry.value().is_object()) {
      check_free_form(entry.value().get_object(), *back, style, line);
    }
  }
}

double processing_time(std::size_t salt) { return static_cast<double>(salt % 100000) / 7.0; }

// The key cases to render a line in: all three, or (for the answers that only repeat what
// other lines cover, to keep the target fast) one picked by `salt`.
std::span<const key_case> cases(std::size_t salt, bool every_case) {
  return every_case ? std::span<const key_case>{all_cases} : std::span<const key_case>{&all_cases[salt % 3], 1};
}

// The answer to one request, checked as a client reads it.
void render(const json::value& request_id, const fields_result& result, std::size_t salt, bool every_case = true) {
  for (auto style : cases(salt, every_case)) {
    auto* error = std::get_if<protocol_error>(&result);
    auto line = error ? error_line(request_id, *error, processing_time(salt), style)
                      : success_line(request_id, std::get<json::value>(result), processing_time(salt), style);
    auto response = read_line(line);
    if (!same_json(member(response, "request_id", style, line), request_id))
      fail("request_id did not come back as sent", line);
    auto& success = member(response, "success", style, line);
    if (!success.is_bool() || success.get_bool() == (error != nullptr))
      fail("success does not say what the answer is", line);
    if (!member(response, "processing_time_ms", style, line).is_number())
      fail("processing_time_ms is not a number", line);
    if (error) {
      auto& body = member(response, "error", style, line);
      if (!body.is_object())
        fail("error is not an object", line);
      auto& code = member(body.get_object(), "code", style, line);
      if (!code.is_string() || code.get_string() != to_string(error->code))
        fail("error.code is not the error's code", line);
      if (!member(body.get_object(), "message", style, line).is_string() ||
          !member(body.get_object(), "details", style, line).is_object())
        fail("error.message or error.details has the wrong type", line);
    } else {
      member(response, "data", style, line);
    }
  }
}

// The request's data echoed as a success in camel or Pascal case: the writer and
// apply_key_case on client-made JSON, free-form maps kept.
void render_echo(const json::value& request_id, const json::object& data, std::size_t salt) {
  auto style = salt % 2 ? key_case::camel : key_case::pascal;
  auto line = success_line(request_id, json::value(data), processing_time(salt), style);
  auto response = read_line(line);
  check_free_form(data, member(response, "data", style, line), style, line);
}

// Progress events of a stream: true request, as the session sends them (event_line), through
// the real progress sink (progress_events.cpp).
void render_progress(request& req, std::size_t salt) {
  req.emit_event = [id = req.request_id](json::object event) {
    json::object line_object{{"request_id", id}};
    for (auto& field : event)
      line_object.emplace(field.key(), field.value());
    for (auto style : all_cases) {
      auto line = event_line(line_object, style);
      auto parsed = read_line(line);
      if (!member(parsed, "event", style, line).is_string())
        fail("an event line has no event", line);
    }
  };
  auto sink = progress_for(req);
  if (!sink)
    fail("stream: true gave no progress sink", req.command);
  std::uint64_t total = salt % 3 == 0 ? 0 : salt * 977;
  (*sink)(salt % (total + 1), total, req.command);
  (*sink)(total, total, "done");
}

json::value optional_json(const std::optional<std::string>& text) {
  return text ? json::value(*text) : json::value(nullptr);
}

// The model shapes get_model and get_model_metadata answer with, for a record of `model_id`.
void render_model(const json::value& request_id, const std::string& model_id, std::int64_t at_ms, std::size_t salt) {
  modeld::actors::model_record record;
  record.entry.model_id = model_id;
  record.entry.path = "/models/" + model_id;
  record.entry.size_bytes = salt * 1048573;
  record.entry.discovered_at_ms = at_ms;
  record.entry.updated_at_ms = at_ms / 2;
  record.entry.is_valid = salt % 2 == 0;
  record.entry.invalid_reason = "HEADER: " + model_id;
  render(request_id, json::value(model_json(record, salt % 3 == 0 ? std::vector<std::string>{"cpu:0", "b/cuda:1"} : std::vector<std::string>{})), salt, false);
  render(request_id, json::value(metadata_json(record)), salt, false);
}

template <class T>
const protocol_error* error_of(const field_result<T>& result) {
  return std::get_if<protocol_error>(&result);
}

fields_result hello_fields(const json::object& data) {
  // session::answer_hello without a token file: token is not checked, response_case must be a style.
  json::object answer{{"protocol_version", protocol_version}, {"server_version", server_version}};
  if (auto* response_case = data.if_contains("response_case")) {
    auto style = response_case->is_string() ? parse_key_case(response_case->get_string()) : std::nullopt;
    if (!style)
      return invalid_field("response_case", "response_case must be snake, camel or pascal");
    answer["response_case"] = *style == key_case::snake ? "snake" : *style == key_case::camel ? "camel" : "pascal";
  }
  json::array names;
  for (auto name : capabilities())
    names.emplace_back(name);
  answer["capabilities"] = std::move(names);
  return json::value(std::move(answer));
}

fields_result metadata_put_fields(const json::value& request_id, const json::object& data, std::size_t salt) {
  // put_model_metadata's reads (model_commands.cpp), then the answer's shape for the patch.
  auto id = required_model_id(data);
  if (auto* error = error_of(id))
    return *error;
  auto* metadata = data.if_contains("metadata");
  if (metadata == nullptr || !metadata->is_object())
    return invalid_field("metadata", "metadata must be an object");
  auto patch = parse_metadata_patch(metadata->get_object());
  if (auto* error = error_of(patch))
    return *error;
  auto expected = optional_count(data, "expected_revision", std::numeric_limits<std::int64_t>::max());
  if (auto* error = error_of(expected))
    return *error;
  auto& p = std::get<modeld::catalog::metadata_patch>(patch);
  modeld::actors::model_record record;
  record.entry.model_id = std::get<std::string>(id);
  auto& m = record.metadata;
  m.name = p.name;
  m.description = p.description;
  m.author = p.author;
  m.license = p.license;
  m.source = p.source;
  m.version = p.version;
  m.tags = p.tags.value_or(std::vector<std::string>{});
  m.custom_json = p.custom_json.value_or("{}");
  m.revision = static_cast<std::int64_t>(std::get<std::optional<std::uint64_t>>(expected).value_or(0));
  m.updated_at_ms = m.revision;
  auto answer = json::value(metadata_json(record));
  // The stored custom map comes back as it was sent, in every key case.
  for (auto style : all_cases) {
    auto line = success_line(request_id, answer, processing_time(salt), style);
    auto response = read_line(line);
    auto& shape = member(response, "data", style, line);
    if (!shape.is_object())
      fail("metadata is not an object", line);
    auto* custom = metadata->get_object().if_contains("custom");
    if (custom && !same_json(*custom, member(shape.get_object(), "custom", style, line)))
      fail("custom did not come back verbatim", line);
    auto* name = metadata->get_object().if_contains("name");
    if (name && !same_json(*name, member(shape.get_object(), "name", style, line)))
      fail("name did not come back as sent", line);
  }
  return answer;
}

// What the command's handler (or the session) reads from data before it asks an actor.
fields_result command_fields(const command_entry& command, const request& req, std::size_t salt) {
  auto& name = command.name;
  auto& data = req.data;
  if (name == "ping" || name == "get_device_list")
    return json::value(json::object{});
  if (name == "hello")
    return hello_fields(data);
  if (name == "cancel") {
    auto* target = data.if_contains("target_request_id");
    if (target == nullptr || !(target->is_string() || target->is_int64() || target->is_uint64()))
      return invalid_field("target_request_id", "target_request_id must name a request of this connection");
    return json::value(json::object{{"target_request_id", *target}, {"cancelled", false}});
  }
  if (name == "subscribe_status") {
    auto interval = optional_count(data, "interval_ms", 3'600'000);
    if (auto* error = error_of(interval))
      return *error;
    auto interval_ms = std::get<std::optional<std::uint64_t>>(interval).value_or(1000);
    if (interval_ms < 50)
      return invalid_field("interval_ms", "interval_ms must be at least 50");
    auto device = optional_string(data, "device_id", 64);
    if (auto* error = error_of(device))
      return *error;
    return json::value(json::object{{"subscription_id", "sub-1-1"}, {"interval_ms", interval_ms}});
  }
  if (name == "unsubscribe") {
    auto id = optional_string(data, "subscription_id", 128);
    if (auto* error = error_of(id))
      return *error;
    return invalid_field("subscription_id", "no such subscription on this connection");
  }
  if (name == "get_device_status" || name == "get_model_status" || name == "get_vram_model_status") {
    auto device = optional_string(data, "device_id", 64); // device_filter's read (commands.cpp)
    if (auto* error = error_of(device))
      return *error;
    return json::value(json::object{{"devices", json::array{}}});
  }
  if (name == "inject_fault") {
    // Refused first unless modeld runs with --enable-fault-injection; the reads behind it too.
    render(req.request_id,
           protocol_error{error_code::fault_injection_disabled,
                          "fault injection is off; start modeld with --enable-fault-injection"},
           salt, false);
    return modeld::fuzz::fault_fields(data);
  }
  if (name == "get_models") {
    auto query = parse_model_query(data);
    if (auto* error = error_of(query))
      return *error;
    auto& q = std::get<modeld::actors::model_query>(query);
    return json::value(json::object{{"type", optional_json(q.type)},
                                    {"architecture", optional_json(q.architecture)},
                                    {"format", optional_json(q.format)},
                                    {"tag", optional_json(q.tag)},
                                    {"loaded", q.loaded ? json::value(*q.loaded) : json::value(nullptr)},
                                    {"offset", q.offset},
                                    {"limit", q.limit}});
  }
  if (name == "get_model" || name == "get_model_metadata" || name == "get_model_components" ||
      name == "get_model_benchmark_results" || name == "post_model_cache") {
    auto id = required_model_id(data);
    if (auto* error = error_of(id))
      return *error;
    render_model(req.request_id, std::get<std::string>(id), static_cast<std::int64_t>(salt * 86'400'013), salt);
    protocol_error not_found{error_code::model_not_found,
                             "model '" + std::get<std::string>(id) + "' is not in the catalog"};
    not_found.details["model_id"] = std::get<std::string>(id);
    return not_found;
  }
  if (name == "post_model_scan") {
    auto root = optional_string(data, "root", max_model_id);
    if (auto* error = error_of(root))
      return *error;
    std::string only_root = std::get<std::optional<std::string>>(root).value_or("");
    while (only_root.size() > 1 && only_root.back() == '/')
      only_root.pop_back();
    if (only_root.empty())
      return json::value(json::object{{"added", 0}, {"errors", json::array{}}});
    auto error = invalid_field("root", "'" + only_root + "' is not one of the model roots");
    error.details["model_roots"] = string_array({"/models"});
    return error;
  }
  if (name == "post_model_validate")
    return modeld::fuzz::validate_fields(data);
  if (name == "put_model_metadata")
    return metadata_put_fields(req.request_id, data, salt);
  if (name == "post_model_load")
    return modeld::fuzz::load_fields(data);
  if (name == "post_model_benchmark")
    return modeld::fuzz::benchmark_fields(data);
  if (name == "post_model_unload" || name == "get_model_cache" || name == "delete_model_cache") {
    auto id = optional_string(data, "model_id", max_model_id);
    if (auto* error = error_of(id))
      return *error;
    if (name == "post_model_unload") {
      auto device = optional_string(data, "device_id", 64);
      if (auto* error = error_of(device))
        return *error;
      auto force = optional_flag(data, "force");
      if (auto* error = error_of(force))
        return *error;
    }
    return json::value(json::object{{"model_id", optional_json(std::get<std::optional<std::string>>(id))}});
  }
  if (name == "release") { // release_lease's read (lease_commands.cpp)
    auto lease_id = optional_string(data, "lease_id", 64);
    if (auto* error = error_of(lease_id))
      return *error;
    return json::value(json::object{{"lease_id", optional_json(std::get<std::optional<std::string>>(lease_id))}});
  }
  // A command this target does not know yet (LLVMFuzzerInitialize names it): answered empty.
  return json::value(json::object{});
}

// session::on_line without the session: parse, look up, read the fields, answer.
void on_line(std::string_view text, std::uint64_t& next_server_id) {
  auto salt = text.size();
  auto parsed = parse_request(text);
  if (auto* rejected = std::get_if<rejected_request>(&parsed)) {
    render(rejected->request_id, rejected->error, salt);
    return;
  }
  auto& req = std::get<request>(parsed);
  if (req.request_id.is_null())
    req.request_id = "modeld-1-" + std::to_string(++next_server_id);
  render_echo(req.request_id, req.data, salt);
  auto* command = find_command(req.command);
  if (command == nullptr) {
    protocol_error error{error_code::unknown_command, "unknown command '" + req.command + "'"};
    error.details["command"] = req.command;
    render(req.request_id, error, salt);
    return;
  }
  if (command->name != req.command || find_command(command->name) != command)
    fail("find_command returned another command", req.command);
  // Without hello's token (a server with --auth-token-file), everything but hello is refused.
  if (command->name != "hello")
    render(req.request_id, protocol_error{error_code::unauthenticated, "send hello with the server's token first"},
           salt, false);
  render(req.request_id, command_fields(*command, req, salt), salt);
  if (req.stream)
    render_progress(req, salt);
  if (req.timeout) {
    protocol_error error{error_code::timeout,
                         "request did not finish within timeout_ms=" + std::to_string(req.timeout->count())};
    error.details["timeout_ms"] = req.timeout->count();
    if (command->changes_state)
      error.details["outcome"] = "unknown";
    render(req.request_id, error, salt, false);
  }
}

void render_too_large(const frame& f, std::size_t limit) {
  // session::on_frame
  protocol_error error{error_code::frame_too_large, "request line of " + std::to_string(f.size) +
                                                      " bytes exceeds the limit of " + std::to_string(limit) +
                                                      " bytes"};
  error.details["limit_bytes"] = limit;
  error.details["line_bytes"] = f.size;
  render(nullptr, error, f.size, false);
}

struct seen_frame {
  frame::kind type;
  std::string text;
  std::size_t size;
  bool operator==(const seen_frame&) const = default;
};

// PROTOCOL.md's framing, written plainly: complete lines only; a trailing '\r' and a leading
// byte-order mark are not part of the line; a line longer than the limit is one too_large frame
// of its raw length; blank lines are skipped.
std::vector<seen_frame> reference_frames(std::string_view bytes, std::size_t limit) {
  std::vector<seen_frame> frames;
  std::size_t newline;
  while ((newline = bytes.find('\n')) != std::string_view::npos) {
    auto raw = bytes.substr(0, newline);
    bytes.remove_prefix(newline + 1);
    auto text = raw;
    if (!text.empty() && text.back() == '\r')
      text.remove_suffix(1);
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF")
      text.remove_prefix(3);
    if (text.size() > limit)
      frames.push_back({frame::kind::too_large, {}, raw.size()});
    else if (text.find_first_not_of(" \t") != std::string_view::npos)
      frames.push_back({frame::kind::line, std::string{text}, text.size()});
  }
  return frames;
}

// Feeds `bytes` to a splitter: in one piece (chunk_seed 0), byte by byte (1), or in chunks of
// pseudo-random sizes.
std::vector<seen_frame> split(std::string_view bytes, std::size_t limit, std::uint32_t chunk_seed, bool& partial) {
  line_splitter splitter(limit);
  std::vector<seen_frame> frames;
  auto collect = [&](const frame& f) { frames.push_back({f.type, std::string{f.text}, f.size}); };
  if (chunk_seed == 0) {
    splitter.feed(bytes, collect);
  } else if (chunk_seed == 1) {
    for (std::size_t i = 0; i < bytes.size(); ++i)
      splitter.feed(bytes.substr(i, 1), collect);
  } else {
    std::uint32_t state = chunk_seed;
    while (!bytes.empty()) {
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      auto n = std::min<std::size_t>(bytes.size(), 1 + state % (2 * limit + 8));
      splitter.feed(bytes.substr(0, n), collect);
      bytes.remove_prefix(n);
    }
  }
  partial = splitter.has_partial_line();
  return frames;
}

void check_framing(std::string_view bytes, std::size_t limit, std::uint32_t chunk_seed) {
  auto expected = reference_frames(bytes, limit);
  bool partial_whole = false, partial_chunked = false;
  auto whole = split(bytes, limit, 0, partial_whole);
  auto chunked = split(bytes, limit, chunk_seed, partial_chunked);
  std::string where = "limit " + std::to_string(limit) + ", chunk seed " + std::to_string(chunk_seed);
  if (whole != expected)
    fail("framing in one piece differs from PROTOCOL.md's rules", where);
  if (chunked != expected)
    fail("framing in chunks differs from PROTOCOL.md's rules", where);
  bool tail = !bytes.empty() && bytes.back() != '\n';
  if (partial_whole != tail || partial_chunked != tail)
    fail("has_partial_line does not say whether a line is unfinished", where);
  for (auto& f : expected)
    if (f.type == frame::kind::too_large)
      render_too_large({f.type, {}, f.size}, limit);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Every command of the table should have its reads above; a new one is answered empty until then.
  for (auto name : capabilities()) {
    static constexpr std::string_view known[] = {
      "hello", "ping", "cancel", "get_device_list", "get_device_status", "get_model_status",
      "get_vram_model_status", "subscribe_status", "unsubscribe", "inject_fault", "get_models", "get_model",
      "post_model_scan", "post_model_validate", "get_model_metadata", "put_model_metadata", "get_model_components",
      "post_model_load", "post_model_unload", "post_model_benchmark", "get_model_benchmark_results",
      "get_model_cache", "post_model_cache", "delete_model_cache", "release"};
    if (std::find(std::begin(known), std::end(known), name) == std::end(known))
      std::fprintf(stderr, "fuzz_protocol: command %.*s has no field reads in fuzz_protocol.cpp yet\n",
                   static_cast<int>(name.size()), name.data());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  // A small frame limit, so that FRAME_TOO_LARGE and the discard of long lines run.
  check_framing(bytes, 1 + size % 97, static_cast<std::uint32_t>(size * 2654435761u) | 2u);
  // The first line exactly at the limit, fed byte by byte: the edge of the discard of lines
  // whose newline has not arrived yet.
  if (auto newline = bytes.find('\n'); newline != std::string_view::npos)
    check_framing(bytes, std::max<std::size_t>(1, strip_line(bytes.substr(0, newline)).size()), 1);

  // The server's limit: every line is a request.
  line_splitter splitter(server_frame_limit);
  std::uint64_t next_server_id = 0;
  splitter.feed(bytes, [&](const frame& f) {
    if (f.type == frame::kind::line)
      on_line(f.text, next_server_id);
    else
      render_too_large(f, server_frame_limit);
  });
  return 0;
}
