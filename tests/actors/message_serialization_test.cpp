// Every message type that may cross a node goes through CAF's binary serializer and back
// unchanged. Each value below sets every field to something other than its default, so a field
// missing from an inspect overload makes its round trip differ.
#include "actors/catalog_messages.hpp"
#include "actors/device_messages.hpp"
#include "actors/load_messages.hpp"
#include "actors/messages.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <catch2/catch.hpp>

#include <vector>

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
  status.loaded_models = {{"m", {"unet", "vae"}, "fp16", 3, 11, 12}};
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
  check_round_trip(validation_outcome{true, false, "{}", "sha", "auto"});
  check_round_trip(catalog::scan_changes{{sample_entry()}, {"gone"}});
}

TEST_CASE("device and cache messages cross a node unchanged", "[serialization]") {
  memory_shortfall figures{"host", 10, 2, 8};
  check_round_trip(figures);
  check_round_trip(failure{errc::insufficient_memory, "out of memory", figures});
  check_round_trip(failure{errc::model_not_found, "no such model"});
  check_round_trip(cache_report{100, 50, {{"m", 50, true, true, 1, 2}}, 3, 4, 5, 6});
  check_round_trip(unload_reply{{"a", "b"}, 7});

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
  loaded.device_id = "cpu:1";
  loaded.memory_used_bytes = 2048;
  loaded.load_time_ms = 1.5;
  loaded.disk_to_host_ms = 0.75;
  loaded.host_to_device_ms = 0.5;
  loaded.from_cache = true;
  loaded.evicted = {"b.gguf"};
  loaded.components = {"unet", "vae"};
  loaded.dtype = "fp16";
  check_round_trip(loaded);
  load_result refused;
  refused.error = failure{errc::insufficient_memory, "full", memory_shortfall{"device", 9, 1, 8}}.about("device_id", "cpu:0");
  check_round_trip(refused);
  check_round_trip(unload_request{"a.safetensors", "cpu:0"});
  check_round_trip(unload_result{true, {}, {{"cpu:0", {"a", "b"}, 10}, {"cpu:1", {}, 0}}});
  check_round_trip(unload_result{false, failure{errc::model_not_loaded, "not loaded"}.about("model_id", "a"), {}});
}

TEST_CASE("status messages cross a node unchanged", "[serialization]") {
  device_info info{"cuda:0", "cuda", 1, "H200", 100, 90};
  check_round_trip(info);
  check_round_trip(sample_status());
  device_report report{info, "unresponsive", true, sample_status(), 40, true, 2, "crash"};
  check_round_trip(report);
  check_round_trip(cluster_status{"degraded", {report}});
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
