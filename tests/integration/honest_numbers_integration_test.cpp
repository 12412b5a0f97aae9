// Honest numbers over TCP (issue 9, items 11 and 12): a benchmark's peak memory is its own
// run's, system_info describes the device, a figure that was not measured is absent rather
// than 0, and the RAM cache's statistics count what they say: hits and misses of loads that
// loaded (the same hits the devices count), evictions by delete_model_cache, and entries in
// use only while a load reads them.
#include "json_checks.hpp"
#include "load_server.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace modeld::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";
const std::string vae = "vae/demo-vae.safetensors";
const std::string script = "torchscript/tiny-mlp.pt";

struct honest_server : load_server {
  using load_server::load_server;
  json::value cache() { return data_of(call("get_model_cache", {})); }
  json::value cache_statistics() { return cache().at("statistics"); }
  // The cache entry of `model_id`, or null.
  json::value entry(const std::string& model_id) {
    auto listing = cache();
    for (auto& e : listing.at("entries").as_array())
      if (e.at("model_id") == model_id.c_str())
        return e;
    return nullptr;
  }
  // Waits until the fill behind a cold load has put `model_id` in the cache.
  void await_entry(const std::string& model_id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (entry(model_id).is_null() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE_FALSE(entry(model_id).is_null());
  }
};

// A safetensors file of one F32 matrix (zeros) of rows x cols.
void write_matrix(const std::string& path, std::int64_t rows, std::int64_t cols) {
  const auto bytes = rows * cols * 4;
  std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(rows) + "," + std::to_string(cols) +
                       R"(],"data_offsets":[0,)" + std::to_string(bytes) + "]}}";
  while (header.size() % 8 != 0)
    header.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header << std::string(static_cast<std::size_t>(bytes), '\0');
}

std::int64_t number(const json::value& v) { return v.to_number<std::int64_t>(); }

// The three hit counts: the cache's, get_model_status's and the sum of the devices' own.
struct hit_counts {
  std::int64_t cache = 0, status = 0, devices = 0;
};

hit_counts hits(honest_server& s) {
  auto status = data_of(s.call("get_model_status", {}));
  hit_counts out;
  out.cache = number(status.at("cache").at("statistics").at("hits"));
  out.status = number(status.at("statistics").at("cache_hits"));
  for (auto& d : status.at("devices").as_array())
    out.devices += number(d.at("statistics").at("cache_hits"));
  CHECK(out.cache == number(s.cache_statistics().at("hits")));
  return out;
}

} // namespace

// 11a
TEST_CASE("a benchmark's peak memory is its own run's and scales with the model", "[honest][benchmark][peak]") {
  honest_server s("cpu:0=256MiB");
  write_matrix(s.models.path + "/small.safetensors", 16, 16);     // 1 KiB
  write_matrix(s.models.path + "/big.safetensors", 1024, 2048);   // 8 MiB
  data_of(s.call("post_model_scan", {}));
  auto small = data_of(s.call("post_model_benchmark", {{"model_id", "small.safetensors"}, {"iterations", 2}, {"warmup", 1}}));
  auto big = data_of(s.call("post_model_benchmark", {{"model_id", "big.safetensors"}, {"iterations", 2}, {"warmup", 1}}));
  auto& small_memory = small.at("metrics").at("memory_usage_bytes");
  auto& big_memory = big.at("metrics").at("memory_usage_bytes");
  CHECK(small_memory.at("model") == 16 * 16 * 4);
  CHECK(big_memory.at("model") == 1024 * 2048 * 4);
  CHECK(number(small_memory.at("peak")) >= number(small_memory.at("model")));
  CHECK(number(big_memory.at("peak")) >= number(big_memory.at("model")));
  CHECK(number(small_memory.at("peak")) < number(big_memory.at("peak")));
  // The weights, their baseline copy, the batch and one product; far from the whole process.
  CHECK(number(big_memory.at("peak")) < 3 * number(big_memory.at("model")));
  const auto rss = resident_kib(s.server->pid()) * 1024;
  INFO("peaks " << small_memory.at("peak") << " and " << big_memory.at("peak") << ", modeld RSS " << rss);
  CHECK(number(small_memory.at("peak")) * 1000 < rss);
  CHECK(number(big_memory.at("peak")) < rss / 4);
}

// 11b
TEST_CASE("system_info describes the benchmark's device from its memory account, not the host",
          "[honest][benchmark][system_info]") {
  honest_server s("cpu:0=64MiB,cpu:1=32MiB");
  auto vae_bytes = number(data_of(s.call("post_model_load", {{"model_id", vae}, {"device_id", "cpu:1"}})).at("memory_used_bytes"));
  auto result = data_of(s.call("post_model_benchmark", {{"model_id", sd15}, {"device_id", "cpu:1"}, {"iterations", 2}}));
  auto& info = result.at("system_info");
  CHECK(info.at("device") == "cpu:1 (virtual CPU device)");
  CHECK(info.at("memory_total") == 32ll << 20);
  CHECK(info.at("memory_budget") == 32ll << 20);
  // The loaded VAE and, during the run, the benchmark's own copy of the checkpoint.
  CHECK(number(info.at("memory_used")) == vae_bytes + s.tensor_bytes(sd15));
  CHECK(info.at("torch_version").is_string());
  CHECK(number(info.at("threads")) > 0);
  CHECK(s.device("cpu:1").at("memory").at("used") == vae_bytes);
}

// 11c
TEST_CASE("a benchmark figure that was not measured is absent, never 0", "[honest][benchmark][absent]") {
  honest_server s("cpu:0=64MiB");
  auto forward = data_of(s.call("post_model_benchmark", {{"model_id", script}, {"input_shape", {4, 16}}, {"iterations", 3}}));
  auto& forward_throughput = forward.at("metrics").at("throughput").as_object();
  CHECK(forward.at("metrics").at("kind") == "torchscript_forward");
  CHECK(forward_throughput.at("per_second").to_number<double>() > 0);
  CHECK_FALSE(forward_throughput.contains("achieved_gflops"));
  CHECK_FALSE(forward_throughput.contains("baseline_gflops"));
  CHECK(number(forward.at("metrics").at("memory_usage_bytes").at("peak")) > 0);

  auto matmul = data_of(s.call("post_model_benchmark", {{"model_id", sd15}, {"iterations", 3}}));
  auto& matmul_throughput = matmul.at("metrics").at("throughput");
  CHECK(matmul_throughput.at("achieved_gflops").to_number<double>() > 0);
  CHECK(matmul_throughput.at("baseline_gflops").to_number<double>() > 0);

  // A load-only run measures no inference and no peak of one.
  auto load_only = data_of(s.call("post_model_benchmark", {{"model_id", sd15}, {"benchmark_type", "load"}}));
  auto& metrics = load_only.at("metrics").as_object();
  CHECK_FALSE(metrics.contains("throughput"));
  CHECK_FALSE(metrics.at("memory_usage_bytes").as_object().contains("peak"));
  CHECK(metrics.at("memory_usage_bytes").at("model") == s.tensor_bytes(sd15));
  CHECK(metrics.at("load_time_ms").at("disk_to_host").to_number<double>() > 0);
}

// 11d
TEST_CASE("load timings carry only the stages that were measured", "[honest][load][timings]") {
  honest_server s("cpu:0=64MiB");
  // A cold load straight from the file into the CPU device: one copy, nothing in host memory.
  auto cold = data_of(s.call("post_model_load", {{"model_id", sd15}}));
  REQUIRE(cold.at("from_cache") == false);
  auto& direct = cold.at("timings").as_object();
  CHECK(direct.size() == 1);
  CHECK(direct.at("disk_to_device_ms").to_number<double>() > 0);
  CHECK_FALSE(direct.contains("disk_to_host_ms"));
  CHECK_FALSE(direct.contains("host_to_device_ms"));

  // A hit: the bytes were in host memory already; only the copy into the device was timed.
  s.await_entry(sd15);
  data_of(s.call("post_model_unload", {{"model_id", sd15}}));
  auto hit = data_of(s.call("post_model_load", {{"model_id", sd15}}));
  REQUIRE(hit.at("from_cache") == true);
  auto& copied = hit.at("timings").as_object();
  CHECK(copied.size() == 1);
  CHECK(copied.at("host_to_device_ms").to_number<double>() > 0);
  CHECK_FALSE(copied.contains("disk_to_host_ms"));

  // A conversion reads the file into host memory first: both stages, each measured.
  auto staged = data_of(s.call("post_model_load", {{"model_id", vae}, {"dtype", "fp32"}}));
  REQUIRE(staged.at("from_cache") == false);
  auto& both = staged.at("timings").as_object();
  CHECK(both.at("disk_to_host_ms").to_number<double>() > 0);
  CHECK(both.at("host_to_device_ms").to_number<double>() > 0);
  CHECK_FALSE(both.contains("disk_to_device_ms"));

  // post_model_cache of a model the cache holds read nothing.
  auto held = data_of(s.call("post_model_cache", {{"model_id", sd15}}));
  CHECK(held.at("from_cache") == true);
  CHECK_FALSE(held.as_object().contains("disk_to_host_ms"));
  data_of(s.call("delete_model_cache", {{"model_id", sd15}}));
  auto read = data_of(s.call("post_model_cache", {{"model_id", sd15}}));
  CHECK(read.at("from_cache") == false);
  CHECK(read.at("disk_to_host_ms").to_number<double>() > 0);
}

// 12a
TEST_CASE("a cache entry is in use while a load copies from it, and not after", "[honest][cache][in_use]") {
  honest_server s("cpu:0=64MiB", {"--enable-fault-injection"});
  data_of(s.call("post_model_cache", {{"model_id", sd15}}));
  REQUIRE_FALSE(s.entry(sd15).is_null());
  CHECK(s.entry(sd15).at("in_use") == false);

  // The device takes no message for a while: the load holds the entry's bytes meanwhile.
  data_of(s.call("inject_fault", {{"target", "device:cpu:0"}, {"mode", "hang"}, {"duration_ms", 1500}}));
  // Named: choosing the roomiest device would ask the hung one for its status.
  s.client->send(
    {{"request_id", "load"}, {"command", "post_model_load"}, {"data", {{"model_id", sd15}, {"device_id", "cpu:0"}}}});
  line_client watcher(s.server->port());
  bool seen_in_use = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1200);
  while (!seen_in_use && std::chrono::steady_clock::now() < deadline) {
    auto listing = data_of(watcher.call(json::object{{"command", "get_model_cache"}, {"data", {{"model_id", sd15}}}}));
    seen_in_use = listing.at("entries").at(0).at("in_use") == true;
    if (!seen_in_use)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(seen_in_use);
  auto loaded = s.client->read_json(std::chrono::seconds(20));
  REQUIRE(data_of(loaded).at("from_cache") == true);
  CHECK(s.entry(sd15).at("in_use") == false); // right after the answer: the load let go

  // The same for a load that joined nothing and a cold load's fill.
  data_of(s.call("post_model_load", {{"model_id", vae}}));
  s.await_entry(vae);
  CHECK(s.entry(vae).at("in_use") == false);
}

// 12b
TEST_CASE("only loads that load count as cache hits or misses", "[honest][cache][counting]") {
  honest_server s("cpu:0=3MiB"); // room for the checkpoint, not for two copies of it
  auto sd15_bytes = s.tensor_bytes(sd15);
  REQUIRE(sd15_bytes <= (3ll << 20));
  REQUIRE(2 * sd15_bytes > (3ll << 20));
  fs::copy_file(s.models.path + "/" + sd15, s.models.path + "/checkpoints/copy.safetensors");
  // A checkpoint whose tensor runs past the end of the file: cataloged, but it does not validate.
  {
    std::string header = R"({"w":{"dtype":"F32","shape":[64],"data_offsets":[0,256]}})";
    while (header.size() % 8 != 0)
      header.push_back(' ');
    std::ofstream out(s.models.path + "/broken.safetensors", std::ios::binary);
    const std::uint64_t length = header.size();
    out.write(reinterpret_cast<const char*>(&length), 8);
    out << header << std::string(16, '\0');
  }
  data_of(s.call("post_model_scan", {}));
  auto unchanged = [&] {
    auto stats = s.cache_statistics();
    CHECK(stats.at("hits") == 0);
    CHECK(stats.at("misses") == 0);
  };

  // Reading models into the cache is no load.
  data_of(s.call("post_model_cache", {{"model_id", sd15}}));
  data_of(s.call("post_model_cache", {{"model_id", vae}}));
  data_of(s.call("post_model_cache", {{"model_id", sd15}})); // from the cache
  unchanged();
  // A benchmark fetches the model through the cache, and loads nothing that stays.
  data_of(s.call("post_model_benchmark", {{"model_id", sd15}, {"iterations", 1}, {"warmup", 0}}));
  data_of(s.call("post_model_benchmark", {{"model_id", "checkpoints/copy.safetensors"}, {"benchmark_type", "load"}}));
  unchanged();
  // Refusals: an invalid request, a model that does not validate.
  CHECK(error_code_of(s.call("post_model_load", {{"model_id", vae}, {"components", {"unet"}}})) == "INVALID_REQUEST");
  CHECK(error_code_of(s.call("post_model_load", {{"model_id", "broken.safetensors"}})) == "UNSUPPORTED_FORMAT");
  unchanged();

  // A load that loads: one hit (from the cache) ...
  REQUIRE(data_of(s.call("post_model_load", {{"model_id", sd15}})).at("from_cache") == true);
  auto stats = s.cache_statistics();
  CHECK(stats.at("hits") == 1);
  CHECK(stats.at("misses") == 0);
  // ... and the refusals after it count nothing: already loaded, no room.
  CHECK(error_code_of(s.call("post_model_load", {{"model_id", sd15}})) == "MODEL_ALREADY_LOADED");
  CHECK(error_code_of(s.call("post_model_load", {{"model_id", "checkpoints/copy.safetensors"}})) ==
        "INSUFFICIENT_MEMORY");
  stats = s.cache_statistics();
  CHECK(stats.at("hits") == 1);
  CHECK(stats.at("misses") == 0);
  // A miss: the copy, read by the device itself, after the checkpoint made room.
  data_of(s.call("post_model_unload", {{"model_id", sd15}}));
  CHECK(s.entry("checkpoints/copy.safetensors").is_null()); // benchmarks read the file, and do not cache it
  REQUIRE(data_of(s.call("post_model_load", {{"model_id", "checkpoints/copy.safetensors"}})).at("from_cache") == false);
  stats = s.cache_statistics();
  CHECK(stats.at("hits") == 1);
  CHECK(stats.at("misses") == 1);
}

// 12c
TEST_CASE("delete_model_cache counts the entries it evicts", "[honest][cache][evictions]") {
  honest_server s("cpu:0=64MiB");
  data_of(s.call("post_model_cache", {{"model_id", sd15}}));
  data_of(s.call("post_model_cache", {{"model_id", vae}}));
  data_of(s.call("post_model_cache", {{"model_id", script}}));
  CHECK(s.cache_statistics().at("evictions") == 0);
  CHECK(data_of(s.call("delete_model_cache", {{"model_id", vae}})).at("evicted").as_array().size() == 1);
  CHECK(s.cache_statistics().at("evictions") == 1);
  CHECK(data_of(s.call("delete_model_cache", {})).at("evicted").as_array().size() == 2);
  CHECK(s.cache_statistics().at("evictions") == 3);
  CHECK(data_of(s.call("get_model_status", {})).at("cache").at("statistics").at("evictions") == 3);
  CHECK(s.cache().at("used_bytes") == 0);
}

// 12d
TEST_CASE("the cache and the devices count the same hits", "[honest][cache][hits]") {
  honest_server s("cpu:0=64MiB,cpu:1=64MiB");
  auto agree = [&](std::int64_t expected) {
    auto counts = hits(s);
    CHECK(counts.cache == expected);
    CHECK(counts.status == expected);
    CHECK(counts.devices == expected);
  };
  // A cold load (a miss), then a load on the other device that finds the fill (a hit, joined
  // or from the entry).
  REQUIRE(data_of(s.call("post_model_load", {{"model_id", sd15}, {"device_id", "cpu:0"}})).at("from_cache") == false);
  REQUIRE(data_of(s.call("post_model_load", {{"model_id", sd15}, {"device_id", "cpu:1"}})).at("from_cache") == true);
  agree(1);
  CHECK(s.cache_statistics().at("misses") == 1);
  // post_model_cache of a held model and of a new one: no load, no hit.
  data_of(s.call("post_model_cache", {{"model_id", sd15}}));
  data_of(s.call("post_model_cache", {{"model_id", vae}}));
  agree(1);
  // Two loads of one model on one device at once share one copy: one load, one hit (or the
  // second comes after the first finished and is refused: no hit).
  s.client->send({{"request_id", "a"}, {"command", "post_model_load"}, {"data", {{"model_id", vae}, {"device_id", "cpu:0"}}}});
  s.client->send({{"request_id", "b"}, {"command", "post_model_load"}, {"data", {{"model_id", vae}, {"device_id", "cpu:0"}}}});
  int loaded = 0;
  for (int i = 0; i < 2; ++i) {
    auto reply = s.client->read_json(std::chrono::seconds(20));
    if (reply.at("success") == true) {
      ++loaded;
      CHECK(reply.at("data").at("from_cache") == true);
    } else {
      CHECK(reply.at("error").at("code") == "MODEL_ALREADY_LOADED");
    }
  }
  CHECK(loaded >= 1);
  agree(2);
  CHECK(s.device("cpu:0").at("statistics").at("loads") == 2);
  // Unload and load again on each device: a hit each.
  data_of(s.call("post_model_unload", {}));
  data_of(s.call("post_model_load", {{"model_id", sd15}, {"device_id", "cpu:0"}}));
  data_of(s.call("post_model_load", {{"model_id", vae}, {"device_id", "cpu:1"}}));
  agree(4);
  CHECK(s.cache_statistics().at("misses") == 1);
}
