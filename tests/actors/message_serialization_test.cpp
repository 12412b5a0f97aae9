// Every message type that may cross a node goes through CAF's binary serializer and back
// unchanged. Each value below sets every field to something other than its default, so a field
// missing from an inspect overload makes its round trip differ.
#include "actors/bridge.hpp"
#include "actors/catalog_messages.hpp"
#include "actors/device_messages.hpp"
#include "actors/use_case_messages.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/worker_pool.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <catch2/catch.hpp>

#include <vector>

#include <unistd.h>

using namespace modeld;
using namespace modeld::actors;

namespace {

template <class T>
T round_trip(const T& value) {
  static_assert(!caf::allowed_unsafe_message_type<T>::value, "an unsafe type cannot cross a node");
  std::vector<char> bytes;
  caf::binary_serializer sink{nullptr, bytes};
  auto copy = value;
  REQUIRE_FALSE(sink(copy));
  REQUIRE_FALSE(bytes.empty());
  T read;
  caf::binary_deserializer source{nullptr, bytes};
  REQUIRE_FALSE(source(read));
  CHECK(source.remaining() == 0);
  return read;
}

template <class T>
void check_round_trip(const T& value) {
  CHECK(round_trip(value) == value);
  CHECK_FALSE(T{} == value); // the sample really differs from a default value
}

catalog::catalog_entry sample_entry() {
  catalog::catalog_entry entry;
  entry.model_id = "sd/v1.safetensors";
  entry.root = "/models";
  entry.path = "/models/sd/v1.safetensors";
  entry.format = "safetensors";
  entry.size_bytes = 1234;
  entry.mtime_ns = -5;
  entry.architecture = "sd15";
  entry.type = "checkpoint";
  entry.precision = "fp16";
  entry.parameter_count = 860;
  entry.components_json = R"([{"name":"unet"}])";
  entry.embedded_json = R"({"a":"b"})";
  entry.sha256 = "ab";
  entry.autov2 = "cd";
  entry.is_valid = false;
  entry.invalid_reason = "HEADER_TOO_LARGE: x";
  entry.discovered_at_ms = 7;
  entry.updated_at_ms = 8;
  return entry;
}

catalog::user_metadata sample_metadata() {
  catalog::user_metadata metadata;
  metadata.name = "name";
  metadata.description = "description";
  metadata.author = "author";
  metadata.license = "license";
  metadata.source = "source";
  metadata.version = "1";
  metadata.tags = {"a", "b"};
  metadata.custom_json = R"({"k":1})";
  metadata.revision = 3;
  metadata.created_at_ms = 4;
  metadata.updated_at_ms = 5;
  return metadata;
}

model_record sample_record() {
  return {sample_entry(), sample_metadata()};
}

catalog::scan_error sample_scan_error() {
  return {"/models/x", "UNREADABLE", "permission denied"};
}

device_status sample_status() {
  device_status status;
  status.device_id = "cpu:1";
  status.state = "busy";
  status.total_bytes = 10;
  status.used_bytes = 4;
  status.free_bytes = 6;
  status.budget_bytes = 9;
  status.allocator_reserve_bytes = 1;
  loaded_model model;
  model.model_id = "m";
  model.components = {"unet", "vae"};
  model.dtype = "fp16";
  model.bytes = 3;
  model.loaded_at_ms = 11;
  model.last_used_ms = 12;
  model.uses = 9;
  model.pinned = true;
  model.priority = "high";
  model.keep_alive_ms = 5000;
  model.expires_at_ms = 5012;
  model.reload_ms = 7.5;
  model.leases = {{"lease-1", 4, "backend", 13}};
  model.shared_components = {"vae"};
  status.loaded_models = {model};
  status.shared_components = {{"ab12", "vae", 2, {"m", "n"}}};
  status.logical_bytes = 5;
  status.shared_bytes_saved = 2;
  status.expirations = 2;
  status.loads = 2;
  status.unloads = 1;
  status.evictions = 1;
  status.cache_hits = 1;
  status.load_time_ms_total = 2.5;
  return status;
}

} // namespace

TEST_CASE("catalog messages cross a node unchanged", "[serialization]") {
  check_round_trip(sample_record());

  model_query query;
  query.type = "lora";
  query.architecture = "sdxl";
  query.format = "gguf";
  query.tag = "t";
  query.loaded = false; // present and false differs from absent
  query.loaded_ids = {"a", "b"};
  query.offset = 5;
  query.limit = 7;
  check_round_trip(query);

  SECTION("an absent optional stays absent, a present one keeps its value") {
    model_query partial;
    partial.tag = "";
    auto read = round_trip(partial);
    CHECK_FALSE(read.type.has_value());
    REQUIRE(read.tag.has_value());
    CHECK(read.tag->empty());
  }

  check_round_trip(model_page{{sample_record(), sample_record()}, 9});
  check_round_trip(model_lookup{true, sample_record()});

  catalog::metadata_patch patch;
  patch.name = "n";
  patch.description = "d";
  patch.author = "a";
  patch.license = "l";
  patch.source = "s";
  patch.version = "v";
  patch.tags = std::vector<std::string>{};
  patch.custom_json = "{}";
  check_round_trip(metadata_write{"m", patch, 4});
  check_round_trip(metadata_written{true, catalog::put_outcome::conflict, sample_record()});

  known_catalog known;
  known.files["m"] = {"/models", 3, 4};
  check_round_trip(known);
  check_round_trip(scan_summary{1, 2, 3, 4, {sample_scan_error()}});
  validation_cache_key key{"m", "full", 5, 6};
  check_round_trip(key);
  check_round_trip(validation_record{key, R"({"valid":true})", "sha", "auto"});
  check_round_trip(identified_components{"m", 12, -3, {{"vae", "ab"}, {"unet", "cd"}}});
  check_round_trip(validation_outcome{true, false, "{}", "sha", "auto"});
  check_round_trip(catalog::scan_changes{{sample_entry()}, {"gone"}});
}

TEST_CASE("device and cache messages cross a node unchanged", "[serialization]") {
  memory_shortfall figures{"host", 10, 2, 8};
  check_round_trip(figures);
  check_round_trip(failure{errc::insufficient_memory, "out of memory", figures});
  check_round_trip(failure{errc::model_not_found, "no such model"});
  check_round_trip(cache_report{100, 50, {{"m", 50, true, true, 1, 2}}, 3, 4, 5, 6, 70, 20, {}});
  check_round_trip(unload_reply{{"a", "b"}, 7, {}, {}});
  check_round_trip(unload_reply{{}, 0, {{"cpu:0", "a", {"lease-2", 3, "c", 4}}}, {{"cpu:1", "b", {"lease-3", 5, "", 6}}}});
  check_round_trip(unload_order{"a", true});
  check_round_trip(release_reply{true, "a"});

  benchmark_reply benchmark;
  benchmark.ok = true;
  benchmark.error = failure{errc::cancelled, "cancelled"};
  benchmark.device_id = "cpu:0";
  benchmark.disk_to_host_ms = 1.5;
  benchmark.host_to_device_ms = 2.5;
  benchmark.loaded_bytes = 3;
  benchmark.inference_ran = true;
  benchmark.measurement = {"weight_matmul", {1.0, 2.0}, 1.5, 2.0, 10.0, 3.0, 4.0, 99, {1, 768}, 2};
  benchmark.facts = {"1.13", 2, "cpu", 5, 6};
  benchmark.device_name = "cpu:0 (virtual CPU device)";
  benchmark.memory_total = 7;
  benchmark.memory_budget = 6;
  benchmark.memory_used = 5;
  check_round_trip(benchmark);
}

TEST_CASE("the load coordinator's answers cross a node unchanged", "[serialization]") {
  check_round_trip(failure{errc::device_not_found, "no such device"}.about("device_id", "cuda:7"));
  load_result loaded;
  loaded.ok = true;
  loaded.model_id = "checkpoints/a.safetensors";
  loaded.done.device_id = "cpu:1";
  loaded.done.memory_used_bytes = 2048;
  loaded.done.load_time_ms = 1.5;
  loaded.done.disk_to_host_ms = 0.75;
  loaded.done.host_to_device_ms = 0.5;
  loaded.done.from_cache = true;
  loaded.done.evicted = {"b.gguf"};
  loaded.done.evictions = {{"b.gguf", 100, 2000, 3, 30.5, 10.1, "low"}};
  loaded.done.eviction_rule = "cost";
  loaded.done.components = {"unet", "vae"};
  loaded.done.dtype = "fp16";
  loaded.done.lease_id = "lease-00";
  loaded.done.already_loaded = true;
  loaded.done.shared_components = {"vae"};
  loaded.done.shared_bytes = 1024;
  loaded.done.identities = {{"vae", "ab12"}, {"unet", "cd34"}};
  check_round_trip(loaded);
  load_result refused;
  refused.error = failure{errc::insufficient_memory, "full", memory_shortfall{"device", 9, 1, 8}}.about("device_id", "cpu:0");
  check_round_trip(refused);
  check_round_trip(unload_request{"a.safetensors", "cpu:0", true});
  unload_result unloaded;
  unloaded.ok = true;
  unloaded.devices = {{"cpu:0", {"a"}, 5}};
  unloaded.kept = {{"cpu:1", "b", {"lease-4", 1, "x", 2}}};
  unloaded.revoked = {{"cpu:0", "a", {"lease-5", 3, "y", 4}}};
  check_round_trip(unloaded);
  check_round_trip(release_result{true, "cpu:0", "a", {}});
  check_round_trip(release_request{"lease-00ff", true});
  check_round_trip(validate_result{true, {}, "m", true, R"({"valid":true})"});
  auto validate = round_trip(validate_request{6, "loras/x.safetensors", true, formats::validation_level::basic, nullptr});
  CHECK(validate.name == "loras/x.safetensors");
  CHECK(validate.is_path);
  CHECK(validate.level == formats::validation_level::basic);
  benchmark_command command{5, "m", "cpu:1", false, {}};
  command.request.batch = 3;
  auto command_read = round_trip(command);
  CHECK(command_read.model_id == "m");
  CHECK(command_read.device_id == "cpu:1");
  CHECK_FALSE(command_read.inference);
  CHECK(command_read.request.batch == 3);
  benchmark_result measured{"m", {}};
  measured.reply.ok = true;
  measured.reply.device_id = "cpu:1";
  measured.reply.measurement.median_ms = 2.5;
  auto measured_read = round_trip(measured);
  CHECK(measured_read.model_id == "m");
  CHECK(measured_read.reply == measured.reply);
  check_round_trip(unload_result{true, {}, {{"cpu:0", {"a", "b"}, 10}, {"cpu:1", {}, 0}}, {}, {}});
  check_round_trip(unload_result{false, failure{errc::model_not_loaded, "not loaded"}.about("model_id", "a"), {}, {}, {}});
}

TEST_CASE("the RAM cache commands and their answers cross a node unchanged", "[serialization]") {
  check_round_trip(cache_request{"b", "sd15.safetensors"});
  check_round_trip(cache_report_result{true, {}, cache_report{100, 50, {{"m", 50, true, true, 1, 2}}, 3, 4, 5, 6, 70, 20, {}}});
  cache_fill_result filled;
  filled.ok = true;
  filled.model_id = "m";
  filled.bytes = 4176;
  filled.cached = true;
  filled.disk_to_host_ms = 0.25;
  check_round_trip(filled);
  filled.disk_to_host_ms.reset(); // nothing read: it stays absent
  check_round_trip(filled);
  check_round_trip(cache_evict_result{true, {}, {"a", "b"}});
  check_round_trip(cache_evict_result{false, failure{errc::model_not_found, "not cached"}.about("model_id", "a"), {}});
}

TEST_CASE("status messages cross a node unchanged", "[serialization]") {
  device_info info{"cuda:0", "cuda", 1, "H200", 100, 90};
  check_round_trip(info);
  check_round_trip(sample_status());
  device_report report{info, "unresponsive", true, sample_status(), 40, true, 2, "crash"};
  check_round_trip(report);
  check_round_trip(cluster_status{"degraded", {report}});
  check_round_trip(node_report{"b", cluster_status{"degraded", {report}}, {"sd15.safetensors"}}); // a node's answer to one that joined it
  check_round_trip(fault_request{"hang", 100});
}

TEST_CASE("a truncated message is refused, never read past its end", "[serialization]") {
  std::vector<char> bytes;
  caf::binary_serializer sink{nullptr, bytes};
  auto record = sample_record();
  REQUIRE_FALSE(sink(record));
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<char> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    caf::binary_deserializer source{nullptr, part};
    model_record read;
    CHECK(source(read));
  }
}

// What must stay on its node (open files, parsed reports, buffers, cancel flags, callbacks and
// closures) crosses as a reference: read back in this process it is the very object; a
// reference made by another process resolves to nothing.
TEST_CASE("node-local members resolve in their own process only", "[serialization]") {
  auto file = std::make_shared<const formats::unique_fd>(::dup(0));
  auto report = std::make_shared<const formats::model_report>();
  std::string seen;
  located_file located{true, {}, "a.safetensors", "/models/a.safetensors", 10, 20, file};
  auto read = round_trip(located);
  CHECK(read.model_id == "a.safetensors");
  CHECK(read.size_bytes == 10);
  CHECK(read.file == file); // the same descriptor, not a copy

  load_order order;
  order.ticket = 7;
  order.model = cached_model{"a.safetensors", "/models/a.safetensors", 10, 20, nullptr, report, file};
  order.components = {"vae"};
  order.dtype = gpu::load_dtype::fp16;
  order.model.identities = {{"vae", "ab12"}};
  order.progress = [&seen](std::uint64_t done, std::uint64_t total, const std::string& stage) {
    seen = stage + " " + std::to_string(done) + "/" + std::to_string(total);
  };
  auto order_read = round_trip(order);
  CHECK(order_read.ticket == 7);
  CHECK(order_read.model.report == report);
  CHECK(order_read.model.buffer == nullptr);
  CHECK(order_read.dtype == gpu::load_dtype::fp16);
  CHECK(order_read.model.identities == order.model.identities);
  REQUIRE(order_read.progress);
  order_read.progress(1, 2, "copying");
  CHECK(seen == "copying 1/2");

  auto cancel = std::make_shared<std::atomic<bool>>(false);
  benchmark_order benchmark{3, "m", "/models/m", file, true, {}, report, cancel};
  benchmark.request.iterations = 5;
  benchmark.request.input_shape = {1, 4};
  auto benchmark_read = round_trip(benchmark);
  CHECK(benchmark_read.cancel == cancel);
  CHECK(benchmark_read.request.iterations == 5);
  CHECK(benchmark_read.request.input_shape == std::vector<std::int64_t>{1, 4});

  blocking_job job{[] { return caf::make_message(std::string{"ran"}); }};
  auto job_read = round_trip(job);
  REQUIRE(job_read.run);
  CHECK(job_read.run().get_as<std::string>(0) == "ran");

  load_policy policy;
  policy.lease = lease_holder{"lease-6", 2, "client", 0};
  policy.keep_alive_ms = 3000;
  policy.default_keep_alive_ms = 60000;
  policy.pinned = true;
  policy.priority = "low";
  policy.evict = true;
  policy.eviction_rule = "lru";
  policy.ram_cached = {"a", "b"};
  policy.share_components = false;
  load_request request{9, "r-1", "m", "cpu:0", {}, gpu::load_dtype::keep, policy, {}};
  auto request_read = round_trip(request);
  CHECK(request_read.request_id == "r-1");
  CHECK(request_read.policy == policy);
  CHECK_FALSE(request_read.progress); // none was sent

  auto sink = std::make_shared<const progress_sink>([](std::uint64_t, std::uint64_t, const std::string&) {});
  CHECK(round_trip(scan_request{"/models", sink}).progress == sink);
  auto job_of_validation = round_trip(validation_job{4, "/models/a", file, formats::validation_level::comprehensive, sink});
  CHECK(job_of_validation.level == formats::validation_level::comprehensive);
  CHECK(job_of_validation.file == file);
  cache_fetch fetched{true, {}, order.model, true, 1.5};
  auto fetched_read = round_trip(fetched);
  CHECK(fetched_read.model.report == report);
  CHECK(fetched_read.disk_to_host_ms == 1.5);
  load_reply reply;
  reply.ok = true;
  reply.done.evicted = {"x"};
  CHECK(round_trip(reply).done.evicted == std::vector<std::string>{"x"});
  gateway_job gateway{[&seen](gateway_actor*) { seen = "gateway"; }};
  round_trip(gateway).run(nullptr);
  CHECK(seen == "gateway");

  // Another process's reference, and one whose object is gone, resolve to nothing.
  auto id = local_refs::put_weak(std::shared_ptr<const void>(report));
  CHECK(local_refs::take(local_refs::process_token(), id) == report);
  CHECK(local_refs::take(local_refs::process_token() + 1, id) == nullptr);
  auto gone = local_refs::put_weak(std::shared_ptr<const void>(std::make_shared<int>(1)));
  CHECK(local_refs::take(local_refs::process_token(), gone) == nullptr);
  // A value is taken out once.
  auto value = local_refs::put_value(std::make_shared<const int>(5));
  CHECK(local_refs::take(local_refs::process_token(), value) != nullptr);
  CHECK(local_refs::take(local_refs::process_token(), value) == nullptr);
}
