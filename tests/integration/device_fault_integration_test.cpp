// Devices that crash, hang or are stopped while they work: every request is answered once,
// promptly, and status tells the truth meanwhile.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <thread>

using namespace modeld::test;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

const std::string model = "checkpoints/demo-sd15.safetensors";

json::object fault(const std::string& target, const std::string& mode, int duration_ms) {
  return {{"command", "inject_fault"}, {"data", {{"target", target}, {"mode", mode}, {"duration_ms", duration_ms}}}};
}

// A benchmark that runs for seconds unless it is stopped.
json::object long_benchmark(const std::string& id, const std::string& device) {
  return {{"request_id", id},
          {"command", "post_model_benchmark"},
          {"data", {{"model_id", model}, {"device_id", device}, {"iterations", 10000}, {"batch", 512}}}};
}

// Polls `device`'s entry of get_device_list until its state is `state` (bounded).
bool device_list_says(line_client& client, const std::string& device, const std::string& state, milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  while (clock_type::now() < deadline) {
    const auto list = data_of(client.call({{"command", "get_device_list"}}));
    for (auto& d : list.at("devices").as_array())
      if (d.at("device_id") == device.c_str() && d.at("state") == state.c_str())
        return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

json::value device_status(line_client& client, const std::string& device) {
  auto data = data_of(client.call({{"command", "get_device_status"}, {"data", {{"device_id", device}}}}));
  return data.at("devices").at(0);
}

} // namespace

TEST_CASE("a device that dies holding a load answers it at once with DEVICE_UNAVAILABLE", "[device-faults]") {
  demo_server s({"--enable-fault-injection"});
  line_client control(s.server->port());
  // The hang holds both messages; after it, the load starts and the crash comes right behind it.
  REQUIRE(data_of(control.call(fault("device:cpu:0", "hang", 300))).at("injected") == true);
  s.client->send({{"request_id", "load"}, {"command", "post_model_load"},
                  {"data", {{"model_id", model}, {"device_id", "cpu:0"}}}});
  control.send(fault("device:cpu:0", "crash", 0));
  auto answer = s.client->read_json(milliseconds(3000));
  CHECK(answer.at("request_id") == "load");
  CHECK(error_code_of(answer) == "DEVICE_UNAVAILABLE");
  control.read_json();
  CHECK(device_list_says(control, "cpu:0", "ready", milliseconds(3000)));
}

TEST_CASE("a device that dies during a benchmark answers it at once and shutdown is not held up", "[device-faults]") {
  demo_server s({"--enable-fault-injection"});
  line_client control(s.server->port());
  REQUIRE(data_of(control.call(fault("device:cpu:0", "hang", 300))).at("injected") == true);
  s.client->send(long_benchmark("bench", "cpu:0"));
  control.send(fault("device:cpu:0", "crash", 0));
  auto answer = s.client->read_json(milliseconds(3000));
  CHECK(answer.at("request_id") == "bench");
  CHECK(error_code_of(answer) == "DEVICE_UNAVAILABLE");
  control.read_json();
  // The benchmark's worker was stopped with its device: the process exits promptly.
  auto started = clock_type::now();
  CHECK(s.server->stop(SIGTERM, milliseconds(10000)) == 0);
  CHECK(clock_type::now() - started < std::chrono::seconds(4));
}

TEST_CASE("cancel and timeout_ms end a benchmark and free its device", "[device-faults]") {
  demo_server s;
  json::object bench = long_benchmark("b1", "cpu:0");
  bench["stream"] = true;
  s.client->send(bench);
  // The first progress event of the inference stage: the worker is running.
  while (true) {
    auto line = s.client->read_json(milliseconds(10000));
    REQUIRE(line.as_object().contains("event"));
    if (line.at("stage") == "inference")
      break;
  }
  auto started = clock_type::now();
  s.client->send({{"request_id", "c"}, {"command", "cancel"}, {"data", {{"target_request_id", "b1"}}}});
  bool cancelled = false;
  for (int lines = 0; lines < 200 && !cancelled; ++lines) {
    auto line = s.client->read_json(milliseconds(2000));
    if (line.at("request_id") == "b1" && !line.as_object().contains("event")) {
      CHECK(error_code_of(line) == "CANCELLED");
      cancelled = true;
    }
  }
  CHECK(cancelled);
  CHECK(clock_type::now() - started < std::chrono::seconds(2));
  // Its worker stops too: the device is ready again with nothing reserved.
  auto deadline = clock_type::now() + std::chrono::seconds(3);
  json::value device;
  do {
    device = device_status(*s.client, "cpu:0");
  } while (device.at("state") != "ready" && clock_type::now() < deadline);
  CHECK(device.at("state") == "ready");
  CHECK(device.at("memory").at("used") == 0);

  json::object timed = long_benchmark("b2", "cpu:1");
  timed["timeout_ms"] = 300;
  started = clock_type::now();
  CHECK(error_code_of(s.client->call(timed)) == "TIMEOUT");
  CHECK(clock_type::now() - started < std::chrono::seconds(2));
  deadline = clock_type::now() + std::chrono::seconds(3);
  do {
    device = device_status(*s.client, "cpu:1");
  } while (device.at("state") != "ready" && clock_type::now() < deadline);
  CHECK(device.at("state") == "ready");
}

TEST_CASE("at the drain grace, requests in flight are answered with an error and modeld exits", "[device-faults]") {
  demo_server s({"--drain-grace-ms", "300"});
  s.client->send(long_benchmark("bench", "cpu:0"));
  std::this_thread::sleep_for(milliseconds(300)); // under way
  auto started = clock_type::now();
  CHECK(s.server->stop(SIGTERM, milliseconds(10000)) == 0);
  CHECK(clock_type::now() - started < std::chrono::seconds(4));
  auto answer = s.client->read_json(milliseconds(1000));
  CHECK(answer.at("request_id") == "bench");
  CHECK(error_code_of(answer) == "INTERNAL");
  CHECK(answer.at("error").at("details").at("reason") == "shutdown");
}

TEST_CASE("concurrent loads of one model share a copy only when they ask for the same one", "[device-faults]") {
  demo_server s({"--enable-fault-injection"});
  line_client control(s.server->port());
  // The hang lines the loads up so they all reach the device while the first one runs.
  REQUIRE(data_of(control.call(fault("device:cpu:0", "hang", 300))).at("injected") == true);
  auto load = [&](const std::string& id, const std::string& dtype) {
    s.client->send({{"request_id", id}, {"command", "post_model_load"},
                    {"data", {{"model_id", model}, {"device_id", "cpu:0"}, {"dtype", dtype}}}});
  };
  load("half", "fp16");
  load("full", "fp32");
  load("half-again", "fp16");
  std::map<std::string, json::value> answers;
  for (int i = 0; i < 3; ++i) {
    auto line = s.client->read_json(milliseconds(10000));
    answers[std::string{line.at("request_id").as_string()}] = line;
  }
  // Whichever reached the device first is loaded; a request for the same copy shares it, one for
  // another dtype is refused rather than answered with the wrong one.
  auto status = device_status(control, "cpu:0");
  REQUIRE(status.at("loaded_models").as_array().size() == 1);
  const std::string loaded{status.at("loaded_models").at(0).at("dtype").as_string()};
  const std::map<std::string, std::string> asked{{"half", "fp16"}, {"full", "fp32"}, {"half-again", "fp16"}};
  for (auto& [id, dtype] : asked) {
    INFO(id);
    if (dtype == loaded)
      CHECK(data_of(answers[id]).at("dtype") == dtype.c_str());
    else
      CHECK(error_code_of(answers[id]) == "MODEL_ALREADY_LOADED");
  }
}

TEST_CASE("a hung device takes no request: its work times out while the others answer at once", "[device-faults]") {
  demo_server s({"--enable-fault-injection", "--status-deadline-ms", "200"});
  REQUIRE(data_of(s.call("post_model_load", {{"model_id", model}, {"device_id", "cpu:0"}})).at("device_id") == "cpu:0");
  REQUIRE(data_of(s.call(fault("device:cpu:0", "hang", 4000))).at("injected") == true);

  // Nobody asked for status, yet every command soon says unresponsive (the heartbeat).
  CHECK(device_list_says(*s.client, "cpu:0", "unresponsive", milliseconds(3000)));
  auto status = data_of(s.call("get_model_status", {}));
  auto hung = status.at("devices").at(0);
  CHECK(hung.at("state") == "unresponsive");
  CHECK(hung.at("reachable") == false);
  CHECK(hung.at("status_age_ms").as_int64() >= 0);
  REQUIRE(hung.at("loaded_models").as_array().size() == 1); // as it last reported
  CHECK(hung.at("loaded_models").at(0).at("model_id") == model.c_str());
  CHECK(hung.at("statistics").at("loads") == 1);
  CHECK(status.at("overall_health") == "degraded");

  auto timed = [&](json::object request) {
    request["timeout_ms"] = 300;
    auto started = clock_type::now();
    auto answer = s.call(request);
    CHECK(clock_type::now() - started < milliseconds(1500));
    return answer;
  };
  CHECK(error_code_of(timed({{"command", "post_model_unload"}, {"data", {{"model_id", model}, {"device_id", "cpu:0"}}}})) ==
        "TIMEOUT");
  CHECK(error_code_of(timed({{"command", "post_model_load"},
                             {"data", {{"model_id", "vae/demo-vae.safetensors"}, {"device_id", "cpu:0"}}}})) == "TIMEOUT");
  auto other = timed({{"command", "post_model_load"}, {"data", {{"model_id", model}, {"device_id", "cpu:1"}}}});
  CHECK(data_of(other).at("device_id") == "cpu:1");

  CHECK(device_list_says(*s.client, "cpu:0", "ready", milliseconds(6000)));
}

TEST_CASE("status counters never go backwards across a device restart", "[device-faults]") {
  demo_server s({"--enable-fault-injection"});
  for (auto* id : {"vae/demo-vae.safetensors", "checkpoints/demo-sd15.safetensors"})
    data_of(s.call("post_model_load", {{"model_id", id}, {"device_id", "cpu:1"}}));
  auto before = data_of(s.call("get_model_status", {})).at("statistics").at("loads").as_int64();
  REQUIRE(before >= 2);
  data_of(s.call(fault("device:cpu:1", "crash", 0)));
  auto deadline = clock_type::now() + std::chrono::seconds(3);
  while (clock_type::now() < deadline) {
    auto status = data_of(s.call("get_model_status", {}));
    CHECK(status.at("statistics").at("loads").as_int64() >= before); // also while it restarts
    auto device = status.at("devices").at(1);
    CHECK(device.at("statistics").at("loads").as_int64() >= 2);
    if (device.at("state") == "ready" && device.at("restarts") == 1)
      break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  data_of(s.call("post_model_load", {{"model_id", "vae/demo-vae.safetensors"}, {"device_id", "cpu:1"}}));
  auto device = data_of(s.call("get_model_status", {})).at("devices").at(1);
  CHECK(device.at("restarts") == 1);
  CHECK(device.at("statistics").at("loads").as_int64() == before + 1);
}

TEST_CASE("INSUFFICIENT_MEMORY carries the bytes needed, free and budgeted", "[device-faults]") {
  demo_server s({"--enable-fault-injection", "--devices", "cpu:0=64KiB,cpu:1=256MiB"});
  auto check_figures = [](const json::value& answer, std::int64_t budget) {
    REQUIRE(error_code_of(answer) == "INSUFFICIENT_MEMORY");
    auto& details = answer.at("error").at("details");
    CHECK(details.at("memory") == "device");
    CHECK(details.at("budget_bytes").to_number<std::int64_t>() == budget);
    CHECK(details.at("free_bytes").to_number<std::int64_t>() <= budget);
    CHECK(details.at("needed_bytes").to_number<std::int64_t>() > 0);
  };
  auto too_big = s.call("post_model_load", {{"model_id", model}, {"device_id", "cpu:0"}});
  check_figures(too_big, 64 * 1024);
  CHECK(too_big.at("error").at("details").at("needed_bytes").to_number<std::int64_t>() > 64 * 1024);
  check_figures(s.call("post_model_benchmark", {{"model_id", model}, {"device_id", "cpu:0"}}), 64 * 1024);

  data_of(s.call(fault("device:cpu:1", "oom", 2000)));
  check_figures(s.call("post_model_load", {{"model_id", model}, {"device_id", "cpu:1"}}), 256 << 20);
}
