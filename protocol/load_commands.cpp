#include "protocol/load_commands.hpp"

#include "actors/epoch.hpp"
#include "protocol/actor_call.hpp"
#include "protocol/fields.hpp"
#include "protocol/lease_commands.hpp"
#include "protocol/json_writer.hpp"
#include "protocol/model_commands.hpp"
#include "protocol/progress_events.hpp"
#include "protocol/status_json.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <chrono>
#include <map>

namespace modeld::protocol {
namespace json = boost::json;
using namespace actors;

namespace {

constexpr std::size_t max_components = 64;

field_result<std::vector<std::string>> read_components(const json::object& data) {
  std::vector<std::string> components;
  auto* value = data.if_contains("components");
  if (value == nullptr)
    return components;
  if (!value->is_array() || value->get_array().size() > max_components)
    return invalid_field("components", "components must be an array of at most 64 component names");
  for (auto& item : value->get_array()) {
    if (!item.is_string() || item.get_string().empty() || item.get_string().size() > 64)
      return invalid_field("components", "each component must be a name such as unet, vae or text_encoder");
    components.emplace_back(item.get_string());
  }
  return components;
}

field_result<gpu::load_dtype> read_dtype(const json::object& data) {
  static constexpr std::array<std::string_view, 4> names{"auto", "fp32", "fp16", "bf16"};
  auto dtype = optional_enum(data, "dtype", names);
  if (auto* error = std::get_if<protocol_error>(&dtype))
    return *error;
  auto& value = std::get<std::optional<std::string_view>>(dtype);
  if (!value || *value == "auto")
    return gpu::load_dtype::keep;
  if (*value == "fp32")
    return gpu::load_dtype::fp32;
  return *value == "fp16" ? gpu::load_dtype::fp16 : gpu::load_dtype::bf16;
}


constexpr std::int64_t max_keep_alive_ms = 365ll * 24 * 3600 * 1000;

// keep_alive_ms: -1 (kept until unloaded) or a number of milliseconds up to a year.
field_result<std::optional<std::int64_t>> read_keep_alive(const json::object& data) {
  if (auto* value = data.if_contains("keep_alive_ms"); value && value->is_int64() && value->get_int64() == -1)
    return std::optional<std::int64_t>{-1};
  auto count = optional_count(data, "keep_alive_ms", max_keep_alive_ms);
  if (std::holds_alternative<protocol_error>(count))
    return invalid_field("keep_alive_ms", "keep_alive_ms must be -1 (kept) or milliseconds from 0 to a year");
  if (auto& ms = std::get<std::optional<std::uint64_t>>(count))
    return std::optional<std::int64_t>{static_cast<std::int64_t>(*ms)};
  return std::optional<std::int64_t>{};
}

// lease, keep_alive_ms, pinned, priority and evict, with the server's defaults.
field_result<load_policy> read_load_policy(const json::object& data, const memory_defaults& defaults) {
  load_policy policy;
  auto keep_alive = read_keep_alive(data);
  if (auto* error = std::get_if<protocol_error>(&keep_alive))
    return *error;
  policy.keep_alive_ms = std::get<std::optional<std::int64_t>>(keep_alive);
  policy.default_keep_alive_ms = defaults.keep_alive_ms;
  auto keeping = read_keeping_fields(data);
  if (auto* error = std::get_if<protocol_error>(&keeping))
    return *error;
  policy.pinned = std::get<keeping_fields>(keeping).pinned;
  policy.priority = std::get<keeping_fields>(keeping).priority;
  auto evict = optional_flag(data, "evict");
  if (auto* error = std::get_if<protocol_error>(&evict))
    return *error;
  policy.evict = std::get<std::optional<bool>>(evict).value_or(defaults.auto_evict);
  policy.eviction_rule = defaults.eviction_rule;
  policy.share_components = defaults.share_components;
  return policy;
}

// The device id a request names, as given (the coordinator checks it), or "".
field_result<std::string> device_id_of(const json::object& data) {
  auto id = optional_string(data, "device_id", 64);
  if (auto* error = std::get_if<protocol_error>(&id))
    return *error;
  return std::get<std::optional<std::string>>(id).value_or("");
}

// What a load evicted and why: the rule, and for each model the figures it weighed; null when
// nothing was evicted.
json::value eviction_json(const load_done& done) {
  if (done.evictions.empty())
    return nullptr;
  json::array models;
  for (auto& note : done.evictions)
    models.emplace_back(json::object{{"model_id", note.model_id},
                                     {"bytes", note.bytes},
                                     {"idle_ms", note.idle_ms},
                                     {"uses", note.uses},
                                     {"reload_ms", note.reload_ms},
                                     {"expected_cost_ms", note.expected_cost_ms},
                                     {"priority", note.priority}});
  return json::object{{"policy", done.eviction_rule}, {"models", std::move(models)}};
}

json::value load_json(const load_result& loaded) {
  // Only what was measured: nothing read into host memory (a cache hit, or a CPU device reading
  // the file straight into its memory) has no disk_to_host_ms, and a direct read is one copy,
  // from the file into the device (disk_to_device_ms), not host_to_device_ms.
  json::object timings; // none when a lease found the model loaded: nothing was copied
  if (loaded.done.disk_to_host_ms)
    timings["disk_to_host_ms"] = *loaded.done.disk_to_host_ms;
  if (!loaded.done.already_loaded)
    timings[loaded.done.read_directly ? "disk_to_device_ms" : "host_to_device_ms"] = loaded.done.host_to_device_ms;
  return json::object{
    {"model_id", loaded.model_id},
    {"device_id", loaded.done.device_id},
    {"memory_used_bytes", loaded.done.memory_used_bytes},
    {"load_time_ms", loaded.done.load_time_ms},
    {"from_cache", loaded.done.from_cache},
    {"evicted", string_array(loaded.done.evicted)},
    {"eviction", eviction_json(loaded.done)},
    {"components", string_array(loaded.done.components)},
    {"dtype", loaded.done.dtype},
    {"timings", std::move(timings)},
    {"lease_id", loaded.done.lease_id.empty() ? json::value(nullptr) : json::value(loaded.done.lease_id)},
    {"already_loaded", loaded.done.already_loaded},
    {"shared_components", string_array(loaded.done.shared_components)},
    {"shared_bytes", loaded.done.shared_bytes},
    {"placement", loaded.placement_reason.empty()
                    ? json::value(nullptr)
                    : json::value(json::object{{"device_id", loaded.done.device_id}, {"reason", loaded.placement_reason}})},
  };
}

} // namespace

// The request of `ticket` was cancelled, timed out, or the use cases actor went down: work nobody
// waits for stops (a load once no one shares it, a benchmark at once).
void drop_work(service_context& context, std::uint64_t ticket) {
  context.bridge.dispatch([use_cases = context.use_cases, ticket](actors::gateway_actor* self) {
    self->send(use_cases, drop_atom::value, ticket);
  });
}

// Parse, one ask of the use cases actor (which places, resolves, fetches, loads and reports
// to the cache), render.
asio::awaitable<command_result> post_model_load(service_context& context, request& req) {
  auto model_id = required_model_id(req.data);
  if (auto* error = std::get_if<protocol_error>(&model_id))
    co_return *error;
  auto components = read_components(req.data);
  if (auto* error = std::get_if<protocol_error>(&components))
    co_return *error;
  auto dtype = read_dtype(req.data);
  if (auto* error = std::get_if<protocol_error>(&dtype))
    co_return *error;
  auto policy = read_load_policy(req.data, context.memory);
  if (auto* error = std::get_if<protocol_error>(&policy))
    co_return *error;
  auto lease = optional_flag(req.data, "lease");
  if (auto* error = std::get_if<protocol_error>(&lease))
    co_return *error;
  auto device_id = device_id_of(req.data);
  if (auto* error = std::get_if<protocol_error>(&device_id))
    co_return *error;
  auto& keeping = std::get<load_policy>(policy);
  // What the load does not say of pinning and priority, the model's metadata may (its defaults).
  auto catalog = context.catalog->read();
  if (auto record = catalog->models.find(std::get<std::string>(model_id)); record != catalog->models.end()) {
    if (!keeping.pinned)
      keeping.pinned = record->second->metadata.pinned;
    if (!keeping.priority)
      keeping.priority = record->second->metadata.priority;
  }
  if (std::get<std::optional<bool>>(lease).value_or(false)) {
    if (!req.leases)
      co_return invalid_field("lease", "a lease is held by a connection; this request has none");
    if (req.leases->size() >= connection_leases::max_leases)
      co_return protocol_error{error_code::overloaded,
                               "this connection holds " + std::to_string(connection_leases::max_leases) +
                                 " leases, the most one connection may hold; release some first"};
    keeping.lease = take_lease(context, req.leases);
  }

  auto progress = progress_for(req);
  load_request order{context.next_ticket++,
                     request_id_text(req.request_id),
                     std::get<std::string>(model_id),
                     std::get<std::string>(device_id),
                     std::get<std::vector<std::string>>(components),
                     std::get<gpu::load_dtype>(dtype),
                     keeping,
                     progress ? *progress : gpu::progress_callback{}};
  auto ticket = order.ticket;
  auto reply = co_await ask<load_result>(context.bridge, context.use_cases, caf::infinite, load_atom::value, std::move(order));
  if (auto* error = std::get_if<caf::error>(&reply)) {
    drop_work(context, ticket);
    if (keeping.lease)
      give_back_lease(context, keeping.lease->lease_id); // in case the load still takes it
    co_return actor_failure(*error, "the load");
  }
  auto& loaded = std::get<load_result>(reply);
  if (!loaded.ok) {
    if (keeping.lease)
      forget_lease(context, keeping.lease->lease_id);
    co_return from_failure(loaded.error);
  }
  if (keeping.lease)
    keep_lease_or_give_back(context, *req.leases, keeping.lease->lease_id);
  co_return load_json(loaded);
}

asio::awaitable<command_result> post_model_unload(service_context& context, request& req) {
  auto model_id = optional_string(req.data, "model_id", max_model_id);
  if (auto* error = std::get_if<protocol_error>(&model_id))
    co_return *error;
  auto device_id = device_id_of(req.data);
  if (auto* error = std::get_if<protocol_error>(&device_id))
    co_return *error;
  auto force = optional_flag(req.data, "force");
  if (auto* error = std::get_if<protocol_error>(&force))
    co_return *error;
  unload_request order{std::get<std::optional<std::string>>(model_id).value_or(""), std::get<std::string>(device_id),
                       std::get<std::optional<bool>>(force).value_or(false)};
  auto reply = co_await ask<unload_result>(context.bridge, context.use_cases, caf::infinite, unload_atom::value, order);
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, "the unload");
  auto& result = std::get<unload_result>(reply);
  tell_revoked(context, result.revoked, req);
  if (!result.ok) {
    auto error = from_failure(result.error);
    if (!result.kept.empty())
      error.details["lease_holders"] = lease_holders_json(result.kept);
    co_return error;
  }
  json::array unloaded, per_device;
  std::uint64_t freed = 0;
  for (auto& device : result.devices) {
    for (auto& m : device.unloaded)
      unloaded.emplace_back(m);
    freed += device.freed_bytes;
    per_device.emplace_back(json::object{
      {"device_id", device.device_id}, {"unloaded", string_array(device.unloaded)}, {"freed_bytes", device.freed_bytes}});
  }
  co_return json::value(json::object{{"unloaded", std::move(unloaded)},
                                     {"freed_bytes", freed},
                                     {"devices", std::move(per_device)},
                                     {"kept_leased", lease_holders_json(result.kept)},
                                     {"revoked_leases", lease_holders_json(result.revoked)}});
}

namespace {

struct benchmark_settings {
  gpu::benchmark_request request;
  bool inference = true;
};

field_result<benchmark_settings> read_benchmark_settings(const json::object& data) {
  benchmark_settings settings;
  auto iterations = optional_count(data, "iterations", 10000);
  if (auto* error = std::get_if<protocol_error>(&iterations))
    return *error;
  settings.request.iterations = static_cast<std::uint32_t>(std::get<std::optional<std::uint64_t>>(iterations).value_or(10));
  if (settings.request.iterations == 0)
    return invalid_field("iterations", "iterations must be at least 1");
  auto warmup = optional_count(data, "warmup", 1000);
  if (auto* error = std::get_if<protocol_error>(&warmup))
    return *error;
  settings.request.warmup = static_cast<std::uint32_t>(std::get<std::optional<std::uint64_t>>(warmup).value_or(3));
  auto batch = optional_count(data, "batch", 4096);
  if (auto* error = std::get_if<protocol_error>(&batch))
    return *error;
  settings.request.batch = static_cast<std::uint32_t>(std::get<std::optional<std::uint64_t>>(batch).value_or(8));
  if (settings.request.batch == 0)
    return invalid_field("batch", "batch must be at least 1");
  static constexpr std::array<std::string_view, 3> benchmark_types{"full", "inference", "load"};
  auto type = optional_enum(data, "benchmark_type", benchmark_types);
  if (auto* error = std::get_if<protocol_error>(&type))
    return *error;
  settings.inference = std::get<std::optional<std::string_view>>(type) != "load";
  if (auto* shape = data.if_contains("input_shape")) {
    if (!shape->is_array() || shape->get_array().empty() || shape->get_array().size() > 8)
      return invalid_field("input_shape", "input_shape must be an array of 1 to 8 positive sizes");
    std::uint64_t elements = 1;
    for (auto& dim : shape->get_array()) {
      if (!dim.is_int64() || dim.get_int64() <= 0 || dim.get_int64() > (1 << 20))
        return invalid_field("input_shape", "input_shape sizes must be whole numbers from 1 to 1048576");
      elements *= static_cast<std::uint64_t>(dim.get_int64());
      if (elements > (1ull << 28))
        return invalid_field("input_shape", "input_shape holds more than 2^28 elements");
      settings.request.input_shape.push_back(dim.get_int64());
    }
  }
  return settings;
}

// Only what was measured: a figure the run did not measure is absent, never 0 (no GFLOP/s for a
// TorchScript forward, no inference figures or peak for a load-only run).
json::value benchmark_json(const std::string& model_id, const benchmark_reply& reply) {
  auto& m = reply.measurement;
  json::object memory{{"model", reply.loaded_bytes}};
  if (reply.inference_ran)
    memory["peak"] = m.peak_memory_bytes;
  json::object metrics{
    {"load_time_ms", {{"disk_to_host", reply.disk_to_host_ms}, {"host_to_device", reply.host_to_device_ms}}},
    {"memory_usage_bytes", std::move(memory)},
    {"iterations", m.iterations},
  };
  if (reply.inference_ran) {
    json::array runs;
    for (auto r : m.run_ms)
      runs.emplace_back(r);
    json::array shape;
    for (auto d : m.input_shape)
      shape.emplace_back(d);
    metrics["kind"] = m.kind;
    metrics["inference_time_ms"] = {{"median", m.median_ms}, {"p95", m.p95_ms}, {"runs", std::move(runs)}};
    json::object throughput{{"per_second", m.throughput_per_s}};
    if (m.achieved_gflops)
      throughput["achieved_gflops"] = *m.achieved_gflops;
    if (m.baseline_gflops)
      throughput["baseline_gflops"] = *m.baseline_gflops;
    metrics["throughput"] = std::move(throughput);
    metrics["input_shape"] = std::move(shape);
  }
  return json::object{
    {"model_id", model_id},
    {"device_id", reply.device_id},
    {"metrics", std::move(metrics)},
    {"system_info", // the device as its memory account has it, not the host
     {{"device", reply.device_name},
      {"memory_total", reply.memory_total},
      {"memory_budget", reply.memory_budget},
      {"memory_used", reply.memory_used},
      {"torch_version", reply.facts.torch_version},
      {"threads", reply.facts.threads}}},
    {"measured_at_ms", actors::epoch_ms()},
  };
}

} // namespace

asio::awaitable<command_result> post_model_benchmark(service_context& context, request& req) {
  auto model_id = required_model_id(req.data);
  if (auto* error = std::get_if<protocol_error>(&model_id))
    co_return *error;
  auto settings = read_benchmark_settings(req.data);
  if (auto* error = std::get_if<protocol_error>(&settings))
    co_return *error;
  auto device_id = device_id_of(req.data);
  if (auto* error = std::get_if<protocol_error>(&device_id))
    co_return *error;
  auto& chosen = std::get<benchmark_settings>(settings);
  if (auto progress = progress_for(req))
    chosen.request.progress = *progress;
  benchmark_command command{context.next_ticket++, std::get<std::string>(model_id), std::get<std::string>(device_id),
                            chosen.inference, chosen.request};
  auto ticket = command.ticket;
  auto reply =
    co_await ask<benchmark_result>(context.bridge, context.use_cases, caf::infinite, benchmark_atom::value, std::move(command));
  if (auto* error = std::get_if<caf::error>(&reply)) {
    drop_work(context, ticket);
    co_return actor_failure(*error, "the benchmark");
  }
  auto& measured = std::get<benchmark_result>(reply);
  if (!measured.reply.ok)
    co_return from_failure(measured.reply.error);
  auto result = benchmark_json(measured.model_id, measured.reply);
  // A joined node's model that this node's catalog lacks has no record here to keep its result:
  // answered, not stored.
  const bool on_joined_node = measured.reply.device_id.find('/') != std::string::npos;
  if (on_joined_node && context.catalog->read()->models.count(measured.model_id) == 0)
    co_return result;
  // Stored as answered (the wire JSON is rendered here only), before answering, so
  // get_model_benchmark_results right after sees it.
  auto stored = co_await ask<ok_atom>(context.bridge, context.services->store(), caf::infinite, record_atom::value,
                                      measured.model_id, json::serialize(result));
  if (auto* error = std::get_if<caf::error>(&stored))
    co_return actor_failure(*error, "storing the benchmark result");
  co_return result;
}

namespace {

// A RAM cache command's fields: `node` (a joined node's name; absent: this node's cache) and
// `model_id` (required for post_model_cache).
field_result<actors::cache_request> read_cache_request(const json::object& data, bool model_required) {
  auto node = optional_string(data, "node", 64);
  if (auto* error = std::get_if<protocol_error>(&node))
    return *error;
  actors::cache_request request;
  request.node = std::get<std::optional<std::string>>(node).value_or("");
  if (model_required) {
    auto model_id = required_model_id(data);
    if (auto* error = std::get_if<protocol_error>(&model_id))
      return *error;
    request.model_id = std::get<std::string>(model_id);
    return request;
  }
  auto model_id = optional_string(data, "model_id", max_model_id);
  if (auto* error = std::get_if<protocol_error>(&model_id))
    return *error;
  request.model_id = std::get<std::optional<std::string>>(model_id).value_or("");
  return request;
}

// One ask of the use cases for a cache command; its result, or the error to answer with.
template <class Result, class Atom>
asio::awaitable<std::variant<Result, protocol_error>> ask_cache(service_context& context, Atom atom,
                                                                actors::cache_request request, std::string_view what) {
  auto reply = co_await ask<Result>(context.bridge, context.use_cases, caf::infinite, atom, std::move(request));
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, what);
  auto& result = std::get<Result>(reply);
  if (!result.ok)
    co_return from_failure(result.error);
  co_return std::move(result);
}

} // namespace

asio::awaitable<command_result> get_model_cache(service_context& context, request& req) {
  auto request = read_cache_request(req.data, false);
  if (auto* error = std::get_if<protocol_error>(&request))
    co_return *error;
  auto& asked = std::get<actors::cache_request>(request);
  auto model_id = asked.model_id;
  if (asked.node.empty()) // this node's: read from the board, no hop
    co_return json::value(cache_json(*context.cache_board->read(), model_id));
  auto reply = co_await ask_cache<actors::cache_report_result>(context, cached_atom::value, std::move(asked), "the cache report");
  if (auto* error = std::get_if<protocol_error>(&reply))
    co_return *error;
  co_return json::value(cache_json(std::get<actors::cache_report_result>(reply).report, model_id));
}

asio::awaitable<command_result> post_model_cache(service_context& context, request& req) {
  auto request = read_cache_request(req.data, true);
  if (auto* error = std::get_if<protocol_error>(&request))
    co_return *error;
  auto reply = co_await ask_cache<actors::cache_fill_result>(context, fetch_atom::value,
                                                             std::move(std::get<actors::cache_request>(request)), "reading the model");
  if (auto* error = std::get_if<protocol_error>(&reply))
    co_return *error;
  auto& filled = std::get<actors::cache_fill_result>(reply);
  json::object answer{{"model_id", filled.model_id},
                      {"bytes", filled.bytes},
                      {"from_cache", filled.from_cache},
                      {"cached", filled.cached}};
  if (filled.disk_to_host_ms) // nothing was read when the cache held it already
    answer["disk_to_host_ms"] = *filled.disk_to_host_ms;
  co_return json::value(std::move(answer));
}

asio::awaitable<command_result> delete_model_cache(service_context& context, request& req) {
  auto request = read_cache_request(req.data, false);
  if (auto* error = std::get_if<protocol_error>(&request))
    co_return *error;
  auto reply = co_await ask_cache<actors::cache_evict_result>(context, evict_atom::value,
                                                              std::move(std::get<actors::cache_request>(request)), "cache eviction");
  if (auto* error = std::get_if<protocol_error>(&reply))
    co_return *error;
  co_return json::value(json::object{{"evicted", string_array(std::get<actors::cache_evict_result>(reply).evicted)}});
}

} // namespace modeld::protocol
