// Shared components over TCP on a virtual device: fine-tunes of one base model that carry
// byte-identical VAEs and text encoders hold one copy of each, counted once in the device's
// `used` (physical) and in every model's `bytes` (logical); a copy is freed only with its last
// model; a component a byte apart, or asked for in another dtype, is not shared; the catalog
// keeps each component's identity; --share-components false loads every copy.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace modeld::test;
namespace json = boost::json;

namespace {

constexpr std::int64_t unet_bytes = 1 << 20;
constexpr std::int64_t vae_bytes = 512 << 10;
constexpr std::int64_t text_bytes = 256 << 10;

struct tensor {
  std::string name;
  std::int64_t bytes;
  char fill;
};

// A safetensors file of F32 tensors, each `bytes` long and filled with `fill`.
std::string safetensors_of(const std::vector<tensor>& tensors) {
  std::string header = "{";
  std::string data;
  for (auto& t : tensors) {
    if (header.size() > 1)
      header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(t.bytes / 4) +
              "],\"data_offsets\":[" + std::to_string(data.size()) + "," + std::to_string(data.size() + t.bytes) + "]}";
    data.append(static_cast<std::size_t>(t.bytes), t.fill);
  }
  return safetensors_file(header + "}", data);
}

// A checkpoint: its own unet (filled with `unet`), a VAE and a text encoder (filled with `vae`, `text`).
std::string checkpoint(char unet, char vae = 'v', char text = 't') {
  return safetensors_of({{"model.diffusion_model.input_blocks.0.0.weight", unet_bytes, unet},
                         {"first_stage_model.encoder.conv_in.weight", vae_bytes / 2, vae},
                         {"first_stage_model.decoder.conv_in.weight", vae_bytes / 2, vae},
                         {"cond_stage_model.transformer.text_model.embeddings.weight", text_bytes, text}});
}

struct shared_server {
  temp_dir models;
  std::unique_ptr<modeld_process> server;
  std::unique_ptr<line_client> client;

  explicit shared_server(const std::string& devices, std::vector<std::string> extra = {}) {
    write_file(models.path + "/ft-a.safetensors", checkpoint('a'));
    write_file(models.path + "/ft-b.safetensors", checkpoint('b'));
    write_file(models.path + "/ft-other-vae.safetensors", checkpoint('c', 'w'));
    extra.insert(extra.begin(), {"--model-root", models.path, "--devices", devices});
    server = std::make_unique<modeld_process>(extra);
    client = std::make_unique<line_client>(server->port());
  }
  json::value call(const std::string& command, json::object data = {}) {
    return client->call(json::object{{"command", command}, {"data", std::move(data)}});
  }
  json::object load(const std::string& model_id, json::object extra = {}) {
    extra["model_id"] = model_id;
    auto answer = call("post_model_load", std::move(extra));
    INFO(json::serialize(answer));
    REQUIRE(answer.at("success") == true);
    return data_of(answer).as_object();
  }
  json::object device() {
    return data_of(call("get_device_status", {{"device_id", "cpu:0"}})).at("devices").at(0).as_object();
  }
  std::int64_t used() { return device().at("memory").at("used").to_number<std::int64_t>(); }
};

std::vector<std::string> names_of(const json::value& array) {
  std::vector<std::string> names;
  for (auto& name : array.as_array())
    names.emplace_back(name.as_string());
  std::sort(names.begin(), names.end());
  return names;
}

const std::vector<std::string> vae_and_text{"text_encoder", "vae"};

} // namespace

TEST_CASE("fine-tunes sharing a VAE and text encoder hold one copy of each", "[shared_components]") {
  shared_server s("cpu:0=16MiB");
  auto first = s.load("ft-a.safetensors");
  CHECK(first.at("shared_components").as_array().empty());
  CHECK(first.at("memory_used_bytes") == unet_bytes + vae_bytes + text_bytes);

  auto second = s.load("ft-b.safetensors");
  CHECK(names_of(second.at("shared_components")) == vae_and_text);
  CHECK(second.at("shared_bytes") == vae_bytes + text_bytes);
  CHECK(second.at("memory_used_bytes") == unet_bytes + vae_bytes + text_bytes); // logical: every component

  auto device = s.device();
  auto& memory = device.at("memory");
  CHECK(memory.at("used") == 2 * unet_bytes + vae_bytes + text_bytes); // physical: one copy of each
  CHECK(memory.at("logical") == 2 * (unet_bytes + vae_bytes + text_bytes));
  CHECK(memory.at("shared_saved") == vae_bytes + text_bytes);
  auto& shared = device.at("shared_components").as_array();
  REQUIRE(shared.size() == 2);
  for (auto& copy : shared) {
    CHECK(names_of(copy.at("models")) == std::vector<std::string>{"ft-a.safetensors", "ft-b.safetensors"});
    CHECK(copy.at("identity").as_string().size() == 64);
  }
  for (auto& model : device.at("loaded_models").as_array())
    CHECK(names_of(model.at("shared_components")) == vae_and_text);

  // Unloading one frees only what no other model uses.
  auto unloaded = data_of(s.call("post_model_unload", {{"model_id", "ft-a.safetensors"}}));
  CHECK(unloaded.at("freed_bytes") == unet_bytes);
  CHECK(s.used() == unet_bytes + vae_bytes + text_bytes);
  CHECK(s.device().at("shared_components").as_array().empty());
  CHECK(s.device().at("memory").at("shared_saved") == 0);

  // Loaded again, it shares the copies ft-b kept.
  auto again = s.load("ft-a.safetensors");
  CHECK(names_of(again.at("shared_components")) == vae_and_text);
  CHECK(s.used() == 2 * unet_bytes + vae_bytes + text_bytes);

  // The last model out frees the copies.
  data_of(s.call("post_model_unload", {{"model_id", "ft-a.safetensors"}}));
  auto last = data_of(s.call("post_model_unload", {{"model_id", "ft-b.safetensors"}}));
  CHECK(last.at("freed_bytes") == unet_bytes + vae_bytes + text_bytes);
  CHECK(s.used() == 0);
}

TEST_CASE("the catalog keeps each component's identity once a load computed it", "[shared_components]") {
  shared_server s("cpu:0=16MiB");
  s.load("ft-a.safetensors");
  s.load("ft-other-vae.safetensors");
  auto identities = [&](const std::string& model_id) {
    std::map<std::string, std::string> out;
    auto components = data_of(s.call("get_model_components", {{"model_id", model_id}})).at("components");
    for (auto& c : components.as_array())
      if (auto* identity = c.as_object().if_contains("identity"))
        out[std::string{c.at("name").as_string()}] = std::string{identity->as_string()};
    return out;
  };
  // The store keeps them after the load answered: polled for at most 5 s.
  std::map<std::string, std::string> a, other;
  for (int i = 0; i < 100 && (a.size() < 2 || other.size() < 2); ++i) {
    a = identities("ft-a.safetensors");
    other = identities("ft-other-vae.safetensors");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(a.size() == 2); // the unet, each model's own, is never hashed
  REQUIRE(other.size() == 2);
  CHECK(a.count("unet") == 0);
  CHECK(a.at("text_encoder") == other.at("text_encoder"));
  CHECK(a.at("vae") != other.at("vae")); // a VAE of other bytes
  // ft-b was never loaded: no identity yet.
  CHECK(identities("ft-b.safetensors").empty());
}

TEST_CASE("a component of other bytes or another dtype is a copy of its own", "[shared_components]") {
  shared_server s("cpu:0=16MiB");
  s.load("ft-a.safetensors");
  auto other = s.load("ft-other-vae.safetensors");
  CHECK(names_of(other.at("shared_components")) == std::vector<std::string>{"text_encoder"});
  CHECK(s.used() == 2 * unet_bytes + 2 * vae_bytes + text_bytes);

  // fp16 copies are other copies than the stored fp32 ones.
  auto half = s.load("ft-b.safetensors", {{"dtype", "fp16"}});
  CHECK(half.at("shared_components").as_array().empty());
  CHECK(s.used() == 2 * unet_bytes + 2 * vae_bytes + text_bytes + (unet_bytes + vae_bytes + text_bytes) / 2);
}

TEST_CASE("sharing lets a second fine-tune fit where a second copy would not", "[shared_components]") {
  auto budget = std::to_string(2 * unet_bytes + vae_bytes + text_bytes + 64 * 1024);
  SECTION("shared") {
    shared_server s("cpu:0=" + budget);
    s.load("ft-a.safetensors");
    auto second = s.load("ft-b.safetensors");
    CHECK(names_of(second.at("shared_components")) == vae_and_text);
  }
  SECTION("--share-components false") {
    shared_server s("cpu:0=" + budget, {"--share-components", "false"});
    s.load("ft-a.safetensors");
    auto refused = s.call("post_model_load", {{"model_id", "ft-b.safetensors"}});
    CHECK(error_code_of(refused) == "INSUFFICIENT_MEMORY");
    CHECK(s.used() == unet_bytes + vae_bytes + text_bytes);
    CHECK(s.device().at("shared_components").as_array().empty());
  }
}

TEST_CASE("evicting a model that shares its copies frees only its own bytes", "[shared_components]") {
  // Room for ft-a and ft-b sharing, and one more VAE, not another unet beside them.
  auto budget = std::to_string(2 * unet_bytes + 2 * vae_bytes + text_bytes + 64 * 1024);
  shared_server s("cpu:0=" + budget);
  s.load("ft-a.safetensors");
  s.load("ft-b.safetensors");
  // ft-other-vae needs its unet and VAE (its text encoder is shared): one model must go.
  auto third = s.load("ft-other-vae.safetensors", {{"evict", true}});
  REQUIRE(third.at("evicted").as_array().size() == 1);
  CHECK(names_of(third.at("shared_components")) == std::vector<std::string>{"text_encoder"});
  // Used is what the two models left hold, each copy once.
  auto device = s.device();
  std::int64_t logical = 0;
  for (auto& model : device.at("loaded_models").as_array())
    logical += model.at("bytes").to_number<std::int64_t>();
  CHECK(device.at("memory").at("logical") == logical);
  CHECK(device.at("memory").at("used").to_number<std::int64_t>() ==
        logical - device.at("memory").at("shared_saved").to_number<std::int64_t>());
  CHECK(device.at("memory").at("used") == 2 * unet_bytes + 2 * vae_bytes + text_bytes);
}

namespace {

// The RAM cache's listing once `entries` entries are in (fills finish after the loads answer):
// polled for at most 5 s.
json::object cache_with(shared_server& s, std::size_t entries) {
  json::object cache;
  for (int i = 0; i < 100; ++i) {
    cache = data_of(s.call("get_model_cache")).as_object();
    if (cache.at("entries").as_array().size() == entries)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(cache.at("entries").as_array().size() == entries);
  return cache;
}

std::int64_t number(const json::value& value) { return value.to_number<std::int64_t>(); }

} // namespace

TEST_CASE("the RAM cache holds one copy of a component its entries share", "[shared_components]") {
  shared_server s("cpu:0=16MiB");
  const auto file_bytes = static_cast<std::int64_t>(checkpoint('a').size());
  s.load("ft-a.safetensors");
  cache_with(s, 1);
  s.load("ft-b.safetensors");
  auto cache = cache_with(s, 2);
  INFO(json::serialize(cache));
  CHECK(number(cache.at("logical_bytes")) == 2 * file_bytes);
  CHECK(number(cache.at("shared_bytes_saved")) == vae_bytes + text_bytes);
  CHECK(number(cache.at("used_bytes")) == 2 * file_bytes - vae_bytes - text_bytes);
  for (auto& entry : cache.at("entries").as_array())
    CHECK(number(entry.at("bytes")) == file_bytes); // logical: the whole file
  auto& shared = cache.at("shared_components").as_array();
  REQUIRE(shared.size() == 2);
  std::vector<std::string> components;
  for (auto& block : shared) {
    components.emplace_back(block.at("component").as_string());
    CHECK(names_of(block.at("models")) == std::vector<std::string>{"ft-a.safetensors", "ft-b.safetensors"});
  }
  std::sort(components.begin(), components.end());
  CHECK(components == vae_and_text);
  // ft-b's VAE and text encoder were not read again.
  CHECK(number(cache.at("statistics").at("bytes_read")) == 2 * file_bytes - vae_bytes - text_bytes);

  // Loads from the cache read each tensor from its block, converted or not.
  data_of(s.call("post_model_unload", {}));
  auto hit = s.load("ft-b.safetensors");
  CHECK(hit.at("from_cache") == true);
  CHECK(hit.at("memory_used_bytes") == unet_bytes + vae_bytes + text_bytes);
  auto half = s.load("ft-a.safetensors", {{"dtype", "fp16"}});
  CHECK(half.at("from_cache") == true);
  CHECK(half.at("memory_used_bytes") == (unet_bytes + vae_bytes + text_bytes) / 2);

  // Evicting one entry keeps the blocks the other uses; the last one frees them.
  data_of(s.call("delete_model_cache", {{"model_id", "ft-a.safetensors"}}));
  auto left = data_of(s.call("get_model_cache")).as_object();
  CHECK(number(left.at("used_bytes")) == file_bytes);
  CHECK(number(left.at("shared_bytes_saved")) == 0);
  CHECK(left.at("shared_components").as_array().empty());
  data_of(s.call("delete_model_cache", {{"model_id", "ft-b.safetensors"}}));
  CHECK(number(data_of(s.call("get_model_cache")).at("used_bytes")) == 0);
}

TEST_CASE("a cache too small for two fine-tunes whole holds both when they share", "[shared_components]") {
  const auto file_bytes = static_cast<std::int64_t>(checkpoint('a').size());
  // Room for two files less their shared VAE and text encoder, and a little more.
  const auto budget = std::to_string(2 * file_bytes - vae_bytes - text_bytes + 64 * 1024);
  shared_server s("cpu:0=16MiB", {"--cache-size", budget});
  s.load("ft-a.safetensors");
  cache_with(s, 1);
  s.load("ft-b.safetensors");
  auto cache = cache_with(s, 2);
  CHECK(number(cache.at("used_bytes")) <= number(cache.at("budget_bytes")));
  CHECK(number(cache.at("statistics").at("evictions")) == 0);
  // A third with a VAE of its own does not fit beside them: the cache evicts, and used stays
  // what its entries hold.
  s.load("ft-other-vae.safetensors");
  for (int i = 0; i < 100 && number(data_of(s.call("get_model_cache")).at("statistics").at("evictions")) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto after = data_of(s.call("get_model_cache")).as_object();
  INFO(json::serialize(after));
  CHECK(number(after.at("statistics").at("evictions")) >= 1);
  CHECK(number(after.at("used_bytes")) <= number(after.at("budget_bytes")));
  CHECK(number(after.at("used_bytes")) ==
        number(after.at("logical_bytes")) - number(after.at("shared_bytes_saved")));
}
