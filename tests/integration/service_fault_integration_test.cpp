// inject_fault into the supervised services (metadata_store, cache, validation) against the
// real server: restarts with state kept where it is durable, hangs that hold requests without
// losing them, and status that says which service is down.
#include "json_checks.hpp"
#include "line_client.hpp"
#include "modeld_process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace modeld::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";

struct fault_server {
  temp_dir models;
  std::unique_ptr<modeld_process> server;
  std::unique_ptr<line_client> client;

  fault_server() {
    write_demo_models(models.path);
    server = std::make_unique<modeld_process>(
      std::vector<std::string>{"--enable-fault-injection", "--model-root", models.path, "--devices", "cpu:0=64MiB"});
    client = std::make_unique<line_client>(server->port());
  }
  json::value call(std::string command, json::object data = {}) {
    return client->call(json::object{{"command", command}, {"data", std::move(data)}});
  }
  json::value inject(const std::string& target, const std::string& mode, int duration_ms = 1000) {
    return call("inject_fault", {{"target", target}, {"mode", mode}, {"duration_ms", duration_ms}});
  }
  json::value service(const std::string& name) {
    auto status = data_of(call("get_model_status")); // bound: a range-for over a temporary's member dangles
    for (auto& entry : status.at("services").as_array())
      if (entry.at("name") == name.c_str())
        return entry;
    FAIL("no service " << name);
    return {};
  }
  // Polls status until the service is ready with `restarts` restarts (bounded).
  json::value await_ready(const std::string& name, int restarts) {
    json::value entry;
    for (int i = 0; i < 200; ++i) {
      entry = service(name);
      if (entry.at("state") == "ready" && entry.at("restarts") == restarts)
        break;
      std::this_thread::sleep_for(20ms);
    }
    return entry;
  }
};

} // namespace

TEST_CASE("status lists the services, all ready", "[faults][services]") {
  fault_server s;
  auto status = data_of(s.call("get_model_status"));
  CHECK(status.at("overall_health") == "healthy");
  REQUIRE(status.at("services").as_array().size() == 3);
  for (auto& entry : status.at("services").as_array()) {
    CHECK(entry.at("state") == "ready");
    CHECK(entry.at("restarts") == 0);
    CHECK(entry.at("last_error").is_null());
  }
  CHECK(data_of(s.call("get_device_status")).at("services").as_array().size() == 3);
}

TEST_CASE("a crashed metadata store restarts with every acknowledged write", "[faults][services]") {
  fault_server s;
  auto written = data_of(s.call("put_model_metadata", {{"model_id", sd15}, {"metadata", {{"description", "kept"}}}}));
  REQUIRE(written.at("revision") == 1);
  REQUIRE(s.inject("metadata_store", "crash").at("success") == true);
  auto entry = s.await_ready("metadata_store", 1);
  CHECK(entry.at("state") == "ready");
  CHECK(entry.at("restarts") == 1);
  CHECK(entry.at("last_error").is_string());
  auto metadata = data_of(s.call("get_model_metadata", {{"model_id", sd15}}));
  CHECK(metadata.at("description") == "kept");
  CHECK(metadata.at("revision") == 1);
  CHECK(data_of(s.call("get_models")).at("total").to_number<int>() > 0);
  // Scans reach the new store through the registry too.
  CHECK(s.call("post_model_scan").at("success") == true);
}

TEST_CASE("a crashed cache restarts empty and loads still work", "[faults][services]") {
  fault_server s;
  REQUIRE(data_of(s.call("post_model_cache", {{"model_id", sd15}})).at("cached") == true);
  REQUIRE(s.inject("cache", "crash").at("success") == true);
  CHECK(s.await_ready("cache", 1).at("restarts") == 1);
  auto cache = data_of(s.call("get_model_cache"));
  CHECK(cache.at("entries").as_array().empty());
  CHECK(cache.at("used_bytes") == 0);
  auto loaded = data_of(s.call("post_model_load", {{"model_id", sd15}}));
  CHECK(loaded.at("from_cache") == false);
}

TEST_CASE("a crashed validation coordinator restarts and validates again", "[faults][services]") {
  fault_server s;
  REQUIRE(s.inject("validation", "crash").at("success") == true);
  CHECK(s.await_ready("validation", 1).at("restarts") == 1);
  auto validated = data_of(s.call("post_model_validate", {{"model_id", sd15}, {"validation_level", "standard"}}));
  CHECK(validated.at("is_valid") == true);
}

TEST_CASE("a hung store holds requests until the hang ends, then answers them all", "[faults][services]") {
  fault_server s;
  REQUIRE(s.inject("metadata_store", "hang", 800).at("success") == true);
  // A request with a short timeout gives up; status keeps answering meanwhile.
  auto timed_out = s.client->call({{"command", "get_model_metadata"}, {"data", {{"model_id", sd15}}}, {"timeout_ms", 100}});
  CHECK(error_code_of(timed_out) == "TIMEOUT");
  auto start = std::chrono::steady_clock::now();
  CHECK(s.call("get_model_status").at("success") == true);
  CHECK(std::chrono::steady_clock::now() - start < 500ms);
  // A write sent during the hang is applied after it, not lost.
  auto written = s.call("put_model_metadata", {{"model_id", sd15}, {"metadata", {{"author", "after the hang"}}}});
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  CHECK(data_of(written).at("author") == "after the hang");
  CHECK(data_of(s.call("get_model_metadata", {{"model_id", sd15}})).at("author") == "after the hang");
  CHECK(s.service("metadata_store").at("restarts") == 0);
}

TEST_CASE("get_models and get_model answer from the published catalog while the store hangs", "[faults][services]") {
  fault_server s;
  // A write acknowledged before the hang is in what they answer.
  data_of(s.call("put_model_metadata", {{"model_id", sd15}, {"metadata", {{"name", "published name"}}}}));
  REQUIRE(s.inject("metadata_store", "hang", 1500).at("success") == true);
  auto start = std::chrono::steady_clock::now();
  auto models = data_of(s.call("get_models"));
  CHECK(models.at("total").to_number<int>() > 0);
  auto model = data_of(s.call("get_model", {{"model_id", sd15}})).at("model");
  CHECK(model.at("name") == "published name");
  CHECK(model.at("revision") == 1);
  CHECK(error_code_of(s.call("get_model", {{"model_id", "no/such.safetensors"}})) == "MODEL_NOT_FOUND");
  CHECK(std::chrono::steady_clock::now() - start < 700ms);
  // The store itself still holds what asks it (metadata reads and writes) until the hang ends.
  auto held = s.client->call({{"command", "get_model_metadata"}, {"data", {{"model_id", sd15}}}, {"timeout_ms", 100}});
  CHECK(error_code_of(held) == "TIMEOUT");
}

TEST_CASE("a slow cache answers, only later", "[faults][services]") {
  fault_server s;
  REQUIRE(s.inject("cache", "slow", 600).at("success") == true);
  auto start = std::chrono::steady_clock::now();
  CHECK(data_of(s.call("post_model_cache", {{"model_id", sd15}})).at("cached") == true);
  CHECK(std::chrono::steady_clock::now() - start >= 20ms); // it works 10 ms out of every 100
  // A second fault while one runs is refused.
  CHECK(error_code_of(s.inject("cache", "hang")) == "INVALID_REQUEST");
  std::this_thread::sleep_for(700ms);
  REQUIRE(s.inject("cache", "hang", 100).at("success") == true);
}

TEST_CASE("a service crashing past the restart limit is failed, and says so", "[faults][services]") {
  fault_server s;
  for (int crash = 1; crash <= 6; ++crash) {
    REQUIRE(s.inject("validation", "crash").at("success") == true);
    if (crash <= 5)
      REQUIRE(s.await_ready("validation", crash).at("state") == "ready");
  }
  json::value entry;
  for (int i = 0; i < 100 && (entry = s.service("validation")).at("state") != "failed"; ++i)
    std::this_thread::sleep_for(20ms);
  CHECK(entry.at("state") == "failed");
  CHECK(data_of(s.call("get_model_status")).at("overall_health") == "degraded");
  auto refused = s.call("post_model_validate", {{"model_id", sd15}, {"validation_level", "standard"}});
  CHECK(error_code_of(refused) == "INTERNAL");
  CHECK(error_code_of(s.inject("validation", "crash")) == "INTERNAL");
}

TEST_CASE("a write answered TIMEOUT says its outcome is unknown, and it may land later", "[service-faults]") {
  fault_server s;
  REQUIRE(data_of(s.inject("metadata_store", "hang", 800)).at("injected") == true);
  auto answer = s.client->call({{"command", "put_model_metadata"},
                                {"timeout_ms", 200},
                                {"data", {{"model_id", sd15}, {"metadata", {{"author", "late writer"}}}}}});
  CHECK(error_code_of(answer) == "TIMEOUT");
  CHECK(answer.at("error").at("details").at("outcome") == "unknown");
  // The store held the write and applies it when the hang ends: a client reads before retrying.
  std::this_thread::sleep_for(900ms);
  CHECK(data_of(s.call("get_model_metadata", {{"model_id", sd15}})).at("author") == "late writer");
  // A read that timed out has nothing to be unsure of.
  REQUIRE(data_of(s.inject("metadata_store", "hang", 500)).at("injected") == true);
  auto read = s.client->call({{"command", "get_model_metadata"}, {"timeout_ms", 100}, {"data", {{"model_id", sd15}}}});
  CHECK(error_code_of(read) == "TIMEOUT");
  CHECK_FALSE(read.at("error").at("details").as_object().contains("outcome"));
}
