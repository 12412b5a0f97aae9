// The log: every restart, injected fault, failed change, eviction, refused client and slow
// request is one line on stderr that names its request, in text or JSON.
#include "json_checks.hpp"
#include "load_server.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

using namespace modeld::test;
namespace json = boost::json;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";

// Every line of stderr that is a JSON object, parsed (a line that is not valid JSON fails).
std::vector<json::object> json_lines(const std::string& text) {
  std::vector<json::object> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    INFO(line);
    REQUIRE(!line.empty());
    REQUIRE(line.front() == '{'); // nothing else shares stderr in JSON format
    auto value = json::parse(line);
    REQUIRE(value.is_object());
    lines.push_back(value.as_object());
  }
  return lines;
}

// The first JSON line with `event` and `request_id` (if given), waiting up to 5 s for it.
std::optional<json::object> wait_for_event(const modeld_process& server, std::string_view event,
                                           std::string_view request_id = {}) {
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  do {
    for (auto& line : json_lines(server.stderr_text()))
      if (line.at("event").as_string() == event &&
          (request_id.empty() || (line.contains("request_id") && line.at("request_id").as_string() == request_id)))
        return line;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (clock_type::now() < deadline);
  return std::nullopt;
}

bool text_has(const modeld_process& server, const std::string& part) {
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  do {
    if (server.stderr_text().find(part) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (clock_type::now() < deadline);
  return false;
}

} // namespace

TEST_CASE("in JSON format every decision is one object naming its request", "[log]") {
  load_server s("cpu:0=3MiB", {"--log-format", "json", "--enable-fault-injection"});
  fs::copy_file(s.models.path + "/" + sd15, s.models.path + "/checkpoints/copy.safetensors");
  data_of(s.call("post_model_scan", {}));

  // A failed load, then one that evicts.
  data_of(s.call({{"request_id", "load-1"}, {"command", "post_model_load"}, {"data", {{"model_id", sd15}}}}));
  error_code_of(s.call({{"request_id", "load-2"}, {"command", "post_model_load"},
                        {"data", {{"model_id", "checkpoints/copy.safetensors"}}}}));
  data_of(s.call({{"request_id", "load-3"}, {"command", "post_model_load"},
                  {"data", {{"model_id", "checkpoints/copy.safetensors"}, {"evict", true}}}}));
  // An injected crash, and the restart it causes.
  data_of(s.call({{"request_id", "fault-1"}, {"command", "inject_fault"},
                  {"data", {{"target", "device:cpu:0"}, {"mode", "crash"}}}}));

  auto failed = wait_for_event(*s.server, "request_failed", "load-2");
  REQUIRE(failed);
  CHECK(failed->at("command") == "post_model_load");
  CHECK(failed->at("code") == "INSUFFICIENT_MEMORY");
  CHECK(failed->at("level") == "warning");
  CHECK(failed->at("time").as_string().size() == std::string_view{"2026-11-30T16:50:00.123Z"}.size());

  auto evicted = wait_for_event(*s.server, "evicted", "load-3");
  REQUIRE(evicted);
  CHECK(evicted->at("model_id") == sd15.c_str());
  CHECK(evicted->at("device_id") == "cpu:0");
  CHECK(evicted->at("level") == "info");

  auto fault = wait_for_event(*s.server, "fault_injected", "fault-1");
  REQUIRE(fault);
  CHECK(fault->at("target") == "device:cpu:0");
  CHECK(fault->at("mode") == "crash");
  auto restart = wait_for_event(*s.server, "restart");
  REQUIRE(restart);
  CHECK(restart->at("component") == "cpu:0");
  CHECK(restart->at("reason").as_string().find("injected crash") != json::string::npos);

  CHECK_FALSE(wait_for_event(*s.server, "request_failed", "load-1")); // a load that worked is not a failure
}

TEST_CASE("refused clients and slow requests are logged as text lines with their request", "[log]") {
  temp_dir dir;
  auto token_file = dir.path + "/token";
  write_file(token_file, "s3cret-token\n");
  demo_server s({"--auth-token-file", token_file, "--slow-request-ms", "1"});
  line_client intruder(s.server->port());
  error_code_of(intruder.call({{"request_id", "guess-1"}, {"command", "hello"}, {"data", {{"token", "guess"}}}}));
  CHECK(text_has(*s.server, "auth_refused request_id=guess-1"));
  CHECK(text_has(*s.server, "reason=\"wrong token\""));
  CHECK(s.server->stderr_text().find("s3cret-token") == std::string::npos); // never the token
  CHECK(s.server->stderr_text().find("guess\"") == std::string::npos);

  REQUIRE(s.call({{"command", "hello"}, {"data", {{"token", "s3cret-token"}}}}).at("success") == true);
  data_of(s.call({{"request_id", "validate-1"}, {"command", "post_model_validate"},
                  {"data", {{"model_id", sd15}, {"validation_level", "comprehensive"}}}}));
  CHECK(text_has(*s.server, "slow_request request_id=validate-1 command=post_model_validate"));
}

TEST_CASE("--log-level warning keeps info lines out; a bad level or format is refused", "[log]") {
  modeld_process quiet({"--log-level", "warning"});
  line_client client(quiet.port());
  REQUIRE(client.call({{"command", "ping"}}).at("success") == true);
  CHECK(quiet.stderr_text().find(" info ") == std::string::npos); // no listening/catalog lines
  auto bad_level = run_modeld({"--log-level", "loud"});
  CHECK(bad_level.exit_code == 2);
  CHECK(bad_level.stderr_text.find("--log-level") != std::string::npos);
  auto bad_format = run_modeld({"--log-format", "xml"});
  CHECK(bad_format.exit_code == 2);
  CHECK(bad_format.stderr_text.find("--log-format") != std::string::npos);
}
