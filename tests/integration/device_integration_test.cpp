// Loads, unloads, the RAM cache and benchmarks on the one device MODELD_TEST_DEVICE names
// (default cpu:0), and what `--devices auto` makes of this host. scripts/gpu-check.sh sets
// cuda:0 on a GPU host, so the same checks go through a real GPU's memory (the other
// integration tests use virtual CPU devices only); elsewhere they run on a virtual CPU device.
#include "json_checks.hpp"
#include "load_server.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace modeld::test;
namespace json = boost::json;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";
const std::string vae = "vae/demo-vae.safetensors";
const std::string lora = "loras/demo-style-lora.safetensors";
const std::string llm = "llm/tiny-llama.gguf";
const std::string ckpt = "checkpoints/tiny-sd-unet.ckpt";
const std::string script = "torchscript/tiny-mlp.pt";

std::string test_device() {
  const char* chosen = std::getenv("MODELD_TEST_DEVICE");
  return chosen != nullptr && *chosen != '\0' ? chosen : "cpu:0";
}

bool on_cuda() { return test_device().starts_with("cuda:"); }

std::int64_t used_of(const json::value& device) { return device.at("memory").at("used").to_number<std::int64_t>(); }

// What torch's CUDA caching allocator keeps beyond live tensors: part of `used`, 0 on CPU devices.
std::int64_t reserve_of(const json::value& device) {
  return device.at("memory").at("allocator_reserve").to_number<std::int64_t>();
}

json::value load(load_server& s, const std::string& model, json::object extra = {}) {
  extra["model_id"] = model;
  extra["device_id"] = test_device();
  return data_of(s.call("post_model_load", std::move(extra)));
}

} // namespace

TEST_CASE("loads on the test device account exactly, unloads give the memory back, reloads hit the cache",
          "[device]") {
  const auto id = test_device();
  INFO("MODELD_TEST_DEVICE=" << id);
  load_server s(id);
  auto device = s.device(id);
  CHECK(device.at("kind") == (on_cuda() ? "cuda" : "cpu"));
  CHECK(device.at("state") == "ready");
  CHECK(device.at("memory").at("total").to_number<std::int64_t>() > 0);

  std::int64_t held = 0;
  for (const auto& model : {sd15, vae, lora, llm, ckpt, script}) {
    INFO(model);
    auto loaded = load(s, model);
    CHECK(loaded.at("from_cache") == false);
    CHECK(loaded.at("load_time_ms").to_number<double>() > 0);
    if (model != script) // a TorchScript module's bytes are its parameters and buffers, as torch made them
      CHECK(loaded.at("memory_used_bytes") == s.tensor_bytes(model));
    if (on_cuda()) { // a miss is read into a pinned host buffer, then copied
      CHECK(loaded.at("timings").at("disk_to_host_ms").to_number<double>() > 0);
      CHECK(loaded.at("timings").at("host_to_device_ms").to_number<double>() > 0);
    }
    held += loaded.at("memory_used_bytes").to_number<std::int64_t>();
    device = s.device(id);
    CHECK(used_of(device) == held + reserve_of(device));
  }
  CHECK(device.at("loaded_models").as_array().size() == 6);

  auto unloaded = data_of(s.call("post_model_unload", {{"device_id", id}}));
  CHECK(unloaded.at("freed_bytes") == held);
  device = s.device(id);
  CHECK(device.at("loaded_models").as_array().empty());
  CHECK(used_of(device) == 0); // no model, and the unloads emptied torch's cache: no reserve either

  // Served from the RAM cache now: one copy from host memory into the device, nothing read.
  for (const auto& model : {sd15, vae}) {
    INFO(model);
    auto again = load(s, model);
    CHECK(again.at("from_cache") == true);
    CHECK(again.at("memory_used_bytes") == s.tensor_bytes(model));
    CHECK(again.at("timings").at("host_to_device_ms").to_number<double>() > 0);
    CHECK_FALSE(again.at("timings").as_object().contains("disk_to_device_ms"));
  }
  // A conversion on the way in: the LoRA is stored as fp16.
  auto converted = load(s, lora, {{"dtype", "fp32"}});
  CHECK(converted.at("dtype") == "fp32");
  CHECK(converted.at("memory_used_bytes") == 2 * s.tensor_bytes(lora));
  data_of(s.call("post_model_unload", {{"device_id", id}}));
  CHECK(used_of(s.device(id)) == 0);
}

TEST_CASE("benchmarks run on the test device and release what they reserved", "[device]") {
  const auto id = test_device();
  INFO("MODELD_TEST_DEVICE=" << id);
  load_server s(id);
  auto result = data_of(s.call("post_model_benchmark", {{"model_id", sd15}, {"device_id", id}, {"iterations", 5},
                                                        {"warmup", 1}}));
  CHECK(result.at("device_id") == id.c_str());
  const auto& metrics = result.at("metrics");
  CHECK(metrics.at("load_time_ms").at("host_to_device").to_number<double>() > 0);
  CHECK(metrics.at("inference_time_ms").at("median").to_number<double>() > 0);
  CHECK(metrics.at("throughput").at("achieved_gflops").to_number<double>() > 0);
  CHECK(metrics.at("throughput").at("baseline_gflops").to_number<double>() > 0);
  CHECK(metrics.at("memory_usage_bytes").at("model") == s.tensor_bytes(sd15));
  CHECK(metrics.at("memory_usage_bytes").at("peak").to_number<std::int64_t>() >= s.tensor_bytes(sd15));
  const std::string device_name{result.at("system_info").at("device").as_string()};
  CHECK(device_name.starts_with(id) == !on_cuda()); // a GPU is named by its model, a CPU device by its id

  auto forward = data_of(s.call("post_model_benchmark", {{"model_id", script}, {"device_id", id},
                                                         {"input_shape", {4, 16}}, {"iterations", 3}}));
  CHECK(forward.at("metrics").at("kind") == "torchscript_forward");
  CHECK(forward.at("metrics").at("inference_time_ms").at("median").to_number<double>() > 0);

  auto device = s.device(id);
  CHECK(device.at("loaded_models").as_array().empty());
  CHECK(used_of(device) - reserve_of(device) == 0); // the runs' reservations were released
}

TEST_CASE("--devices auto serves every CUDA device, or one CPU device and logs why", "[device]") {
  modeld_process server({"--devices", "auto"});
  line_client client(server.port());
  auto devices = data_of(client.call({{"command", "get_device_list"}})).at("devices").as_array();
  REQUIRE_FALSE(devices.empty());
  const auto fallback = server.stderr_text().find("devices_auto_fallback") != std::string::npos;
  if (devices.at(0).at("kind") == "cuda") {
    for (const auto& d : devices)
      CHECK(d.at("kind") == "cuda");
    CHECK_FALSE(fallback);
    return;
  }
  INFO("MODELD_TEST_DEVICE=" << test_device() << "; modeld's stderr:\n" << server.stderr_text());
  CHECK_FALSE(on_cuda()); // a CUDA test device, yet modeld found none
  REQUIRE(devices.size() == 1);
  CHECK(devices.at(0).at("device_id") == "cpu:0");
  CHECK(fallback);
  CHECK(server.stderr_text().find("reason=") != std::string::npos);
}
