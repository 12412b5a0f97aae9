// inject_fault against the real server: restarts, degraded status, timeout_ms and cancel.
#include "json_checks.hpp"
#include "line_client.hpp"
#include "modeld_process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <thread>

using namespace modeld::test;
namespace json = boost::json;

namespace {

json::value device_of(const json::value& status, std::size_t index) {
  return status.at("data").at("devices").as_array().at(index);
}

} // namespace

TEST_CASE("inject_fault is refused unless enabled", "[faults]") {
  modeld_process server;
  line_client client(server.port());
  auto response = client.call({{"command", "inject_fault"}, {"data", {{"target", "device:cpu:0"}, {"mode", "crash"}}}});
  CHECK(error_code_of(response) == "FAULT_INJECTION_DISABLED");
  auto caps = client.call({{"command", "hello"}}).at("data").at("capabilities").as_array();
  CHECK(std::find(caps.begin(), caps.end(), json::value("inject_fault")) == caps.end());
}

TEST_CASE("hello lists inject_fault when it is enabled", "[faults]") {
  modeld_process server({"--enable-fault-injection"});
  line_client client(server.port());
  auto caps = client.call({{"command", "hello"}}).at("data").at("capabilities").as_array();
  CHECK(std::find(caps.begin(), caps.end(), json::value("inject_fault")) != caps.end());
}

TEST_CASE("inject_fault checks its fields", "[faults]") {
  modeld_process server({"--enable-fault-injection"});
  line_client client(server.port());
  auto call = [&](json::object data) { return client.call({{"command", "inject_fault"}, {"data", data}}); };
  CHECK(error_code_of(call({{"target", "device:cuda:9"}, {"mode", "crash"}})) == "DEVICE_NOT_FOUND");
  CHECK(error_code_of(call({{"target", "device:cpu:0"}, {"mode", "explode"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(call({{"target", "device:cpu:0"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(call({{"target", "toaster"}, {"mode", "hang"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(call({{"target", "cache"}, {"mode", "oom"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(call({{"target", "metadata_store"}, {"mode", "sleep"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(call({{"target", "device:cpu:0"}, {"mode", "hang"}, {"duration_ms", -4}})) == "INVALID_REQUEST");
}

TEST_CASE("a crashed device is restarted and status shows it meanwhile", "[faults]") {
  modeld_process server({"--enable-fault-injection"});
  line_client client(server.port());
  auto injected = client.call({{"command", "inject_fault"}, {"data", {{"target", "device:cpu:1"}, {"mode", "crash"}}}});
  REQUIRE(injected.at("success") == true);
  // The supervisor restarts it after 100 ms; poll until it is back (bounded).
  json::value device;
  for (int i = 0; i < 100; ++i) {
    device = device_of(client.call({{"command", "get_model_status"}}), 1);
    if (device.at("state") == "ready" && device.at("restarts") == 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(device.at("state") == "ready");
  CHECK(device.at("restarts") == 1);
  CHECK(device.at("last_error").is_string());
  auto other = device_of(client.call({{"command", "get_model_status"}}), 0);
  CHECK(other.at("restarts") == 0);
}

TEST_CASE("a hung device yields a partial, degraded answer by the deadline", "[faults]") {
  modeld_process server({"--enable-fault-injection", "--status-deadline-ms", "200"});
  line_client client(server.port());
  REQUIRE(client.call({{"command", "inject_fault"},
                       {"data", {{"target", "device:cpu:0"}, {"mode", "hang"}, {"duration_ms", 3000}}}})
            .at("success") == true);
  auto start = std::chrono::steady_clock::now();
  auto status = client.call({{"command", "get_model_status"}});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(1));
  CHECK(status.at("data").at("overall_health") == "degraded");
  auto hung = device_of(status, 0);
  CHECK(hung.at("reachable") == false);
  CHECK(hung.at("state") == "unresponsive");
  CHECK(device_of(status, 1).at("reachable") == true);
  // Other work is not held up meanwhile.
  CHECK(client.call({{"command", "get_device_list"}}).at("success") == true);
}

// Status and catalog queries never wait on anything (they read what the devices and the store
// published), so these take a metadata read from a hung store as the work that takes longer.
TEST_CASE("timeout_ms answers TIMEOUT when the work takes longer", "[faults]") {
  modeld_process server({"--enable-fault-injection"});
  line_client client(server.port());
  REQUIRE(client.call({{"command", "inject_fault"},
                       {"data", {{"target", "metadata_store"}, {"mode", "hang"}, {"duration_ms", 3000}}}})
            .at("success") == true);
  auto start = std::chrono::steady_clock::now();
  auto response = client.call({{"request_id", "t"},
                               {"command", "get_model_metadata"},
                               {"data", {{"model_id", "demo.safetensors"}}},
                               {"timeout_ms", 100}});
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(error_code_of(response) == "TIMEOUT");
  CHECK(response.at("error").at("details").at("timeout_ms") == 100);
  CHECK(response.at("request_id") == "t");
}

TEST_CASE("cancel ends an in-flight request with CANCELLED", "[faults]") {
  modeld_process server({"--enable-fault-injection"});
  line_client client(server.port());
  REQUIRE(client.call({{"command", "inject_fault"},
                       {"data", {{"target", "metadata_store"}, {"mode", "hang"}, {"duration_ms", 4000}}}})
            .at("success") == true);
  client.send({{"request_id", "slow-1"}, {"command", "get_model_metadata"}, {"data", {{"model_id", "demo.safetensors"}}}});
  client.send({{"request_id", "c-1"}, {"command", "cancel"}, {"data", {{"target_request_id", "slow-1"}}}});
  auto first = client.read_json(std::chrono::seconds(2));
  auto second = client.read_json(std::chrono::seconds(2));
  auto& cancel_reply = first.at("request_id") == "c-1" ? first : second;
  auto& cancelled = first.at("request_id") == "c-1" ? second : first;
  CHECK(cancel_reply.at("data").at("cancelled") == true);
  CHECK(cancelled.at("request_id") == "slow-1");
  CHECK(error_code_of(cancelled) == "CANCELLED");
}

TEST_CASE("inject_fault takes target and mode in any case", "[faults][enums]") {
  modeld_process server({"--enable-fault-injection"});
  line_client client(server.port());
  auto call = [&](json::object data) { return client.call({{"command", "inject_fault"}, {"data", data}}); };
  auto device = data_of(call({{"target", "Device:cpu:1"}, {"mode", "Slow"}, {"duration_ms", 100}}));
  CHECK(device.at("target") == "device:cpu:1");
  CHECK(device.at("mode") == "slow");
  auto store = data_of(call({{"target", "MetadataStore"}, {"mode", "HANG"}, {"duration_ms", 100}}));
  CHECK(store.at("target") == "metadata_store");
  CHECK(store.at("mode") == "hang");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(data_of(call({{"target", "Metadata_Store"}, {"mode", "slow"}, {"duration_ms", 100}})).at("target") ==
        "metadata_store");
  CHECK(data_of(call({{"target", "Cache"}, {"mode", "Crash"}})).at("mode") == "crash");
  CHECK(error_code_of(call({{"target", "device:CPU:1"}, {"mode", "slow"}})) == "DEVICE_NOT_FOUND"); // ids as sent
}
