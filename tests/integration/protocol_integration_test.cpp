// The wire protocol against the real server over TCP on 127.0.0.1.
#include "json_checks.hpp"
#include "line_client.hpp"
#include "modeld_process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <set>
#include <thread>

using namespace modeld::test;
namespace json = boost::json;

TEST_CASE("hello reports version, capabilities and the configured devices", "[integration]") {
  modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=512MiB"});
  line_client client(server.port());
  auto hello = client.call({{"request_id", "h"}, {"command", "hello"}, {"data", {{"client", "tests"}}}});
  REQUIRE(hello.at("success") == true);
  auto& data = hello.at("data");
  CHECK(data.at("protocol_version") == 1);
  CHECK(data.at("server_version").is_string());
  auto& caps = data.at("capabilities").as_array();
  CHECK(std::find(caps.begin(), caps.end(), json::value("get_model_status")) != caps.end());
  for (auto command : {"post_model_load", "subscribe_status", "get_models", "post_model_benchmark"})
    CHECK(std::find(caps.begin(), caps.end(), json::value(command)) != caps.end());
  auto& devices = data.at("devices").as_array();
  REQUIRE(devices.size() == 2);
  CHECK(devices[1].at("device_id") == "cpu:1");
  CHECK(devices[1].at("memory_budget") == 512 * 1024 * 1024);
  CHECK(hello.at("processing_time_ms").is_double());
}

TEST_CASE("get_model_status shows every device with its memory", "[integration]") {
  modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=2GiB,cpu:2=1GiB,cpu:3=1GiB"});
  line_client client(server.port());
  auto status = client.call({{"request_id", 7}, {"command", "get_model_status"}});
  REQUIRE(status.at("success") == true);
  CHECK(status.at("request_id") == 7);
  auto& data = status.at("data");
  CHECK(data.at("overall_health") == "healthy");
  auto& devices = data.at("devices").as_array();
  REQUIRE(devices.size() == 4);
  CHECK(devices[1].at("memory").at("budget") == 2ll << 30);
  CHECK(devices[1].at("memory").at("free") == 2ll << 30);
  CHECK(devices[1].at("memory").at("used") == 0);
  CHECK(devices[1].at("state") == "ready");
  CHECK(data.at("loaded_models").as_array().empty());

  auto one = client.call({{"command", "get_device_status"}, {"data", {{"device_id", "cpu:2"}}}});
  REQUIRE(one.at("data").at("devices").as_array().size() == 1);
  auto missing = client.call({{"command", "get_device_status"}, {"data", {{"device_id", "cuda:7"}}}});
  CHECK(error_code_of(missing) == "DEVICE_NOT_FOUND");
  auto list = client.call({{"command", "device.get_device_list"}});
  CHECK(list.at("data").at("devices").as_array().size() == 4);
}

TEST_CASE("C#-style requests: PascalCase keys, flat fields, nulls, action alias", "[integration]") {
  modeld_process server;
  line_client client(server.port());
  auto response = client.call(json::parse(
    R"({"RequestId":"cs-1","WorkerType":"device","Action":"device.get_device_status","DeviceId":"cpu:1",
        "Data":null,"TimeoutMs":null,"Stream":null})"));
  REQUIRE(response.at("success") == true);
  CHECK(response.at("request_id") == "cs-1");
  CHECK(response.at("data").at("devices").as_array().size() == 1);
  client.send_raw("\xEF\xBB\xBF{\"command\":\"ping\",\"request_id\":\"bom\"}\r\n");
  CHECK(client.read_json().at("request_id") == "bom");
}

TEST_CASE("response_case switches the connection's keys", "[integration]") {
  modeld_process server;
  line_client client(server.port());
  auto hello = client.call({{"command", "hello"}, {"data", {{"response_case", "pascal"}}}});
  CHECK(hello.at("Success") == true);
  CHECK(hello.at("Data").at("ProtocolVersion") == 1);
  auto status = client.call({{"command", "get_model_status"}});
  CHECK(status.as_object().contains("ProcessingTimeMs"));
  CHECK(status.at("Data").at("OverallHealth") == "healthy");
  auto bad = client.call({{"command", "hello"}, {"data", {{"response_case", "kebab"}}}});
  CHECK(bad.at("Error").at("Code") == "INVALID_REQUEST");
}

TEST_CASE("status answers shared between connections keep each connection's key style", "[integration]") {
  modeld_process server;
  line_client pascal(server.port()), snake(server.port());
  REQUIRE(pascal.call({{"command", "hello"}, {"data", {{"response_case", "pascal"}}}}).at("Success") == true);
  for (int round = 0; round < 3; ++round) { // within one rendering's lifetime, and across it
    auto mine = pascal.call({{"RequestId", "p"}, {"Command", "GetModelStatus"}});
    CHECK(mine.at("RequestId") == "p");
    CHECK(mine.at("Data").at("Workers").at("Loads").at("Workers") == 2);
    CHECK(mine.at("Data").at("Devices").at(0).as_object().contains("StatusAgeMs"));
    auto theirs = snake.call({{"request_id", "s"}, {"command", "get_model_status"}});
    CHECK(theirs.at("request_id") == "s");
    CHECK(theirs.at("data").at("workers").at("loads").at("workers") == 2);
    CHECK(theirs.at("data").at("devices").at(0).as_object().contains("status_age_ms"));
    std::this_thread::sleep_for(std::chrono::milliseconds(round * 10));
  }
}

TEST_CASE("errors of the envelope and of commands", "[integration]") {
  modeld_process server;
  line_client client(server.port());
  client.send_raw("{nope\n");
  CHECK(error_code_of(client.read_json()) == "INVALID_JSON");
  CHECK(error_code_of(client.call({{"request_id", "u"}, {"command", "frobnicate"}})) == "UNKNOWN_COMMAND");
  auto missing = client.call({{"request_id", "m"}, {"data", {}}});
  CHECK(error_code_of(missing) == "INVALID_REQUEST");
  CHECK(missing.at("error").at("details").at("field") == "command");
  CHECK(error_code_of(client.call({{"command", "ping"}, {"stream", "yes"}})) == "INVALID_REQUEST");
  auto cancel = client.call({{"command", "cancel"}, {"data", {{"target_request_id", "nothing"}}}});
  CHECK(cancel.at("data").at("cancelled") == false);
  auto pong = client.call({{"command", "ping"}});
  CHECK(pong.at("success") == true);
  CHECK(pong.at("request_id").as_string().starts_with("modeld-"));
}

TEST_CASE("1,000 pipelined requests are all answered with matching ids", "[integration]") {
  modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=1GiB,cpu:2=1GiB,cpu:3=1GiB"});
  line_client client(server.port());
  std::string batch;
  std::set<std::string> expected;
  for (int i = 0; i < 1000; ++i) {
    auto id = "p-" + std::to_string(i);
    expected.insert(id);
    json::object request{{"request_id", id}, {"command", i % 2 ? "ping" : "get_model_status"}};
    batch += json::serialize(request) + "\n";
  }
  client.send_raw(batch);
  std::set<std::string> answered;
  for (int i = 0; i < 1000; ++i) {
    auto response = client.read_json();
    REQUIRE(response.at("success") == true);
    answered.insert(std::string{response.at("request_id").as_string()});
  }
  CHECK(answered == expected);
}

TEST_CASE("a client that reads late gets every answer whole and in order", "[integration]") {
  // Answers pile up past what the socket takes while the client does not read: the server
  // writes what it can, keeps the rest (a line cut mid-way keeps its end), stops reading at its
  // queue limit, and goes on when the client reads.
  modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=1GiB,cpu:2=1GiB,cpu:3=1GiB"});
  line_client client(server.port());
  constexpr int requests = 20000;
  std::thread sender([&] {
    std::string batch;
    for (int i = 0; i < requests; ++i) {
      batch += R"({"request_id":"late-)" + std::to_string(i) + R"(","command":")" +
               (i % 3 == 0 ? "ping" : "get_model_status") + "\"}\n";
      if (batch.size() > 64 * 1024 || i + 1 == requests) {
        client.send_raw(batch);
        batch.clear();
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int in_order = 0;
  for (int i = 0; i < requests; ++i) {
    auto response = client.read_json(std::chrono::seconds(30));
    REQUIRE(response.at("success") == true);
    in_order += response.at("request_id") == ("late-" + std::to_string(i)).c_str() ? 1 : 0;
  }
  sender.join();
  CHECK(in_order == requests);
}

TEST_CASE("100 concurrent connections are served", "[integration]") {
  modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=1GiB"});
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 100; ++c)
    threads.emplace_back([&, c] {
      line_client client(server.port());
      int ok = 0;
      for (int i = 0; i < 10; ++i) {
        // Built with appends: g++ 12 -O3 warns (-Wrestrict, a false positive) on "c" + to_string.
        std::string id{"c"};
        id.append(std::to_string(c)).append("-").append(std::to_string(i));
        client.send({{"request_id", id}, {"command", "get_model_status"}});
        auto line = client.read_line();
        if (line && json::parse(*line).at("request_id") == id.c_str())
          ++ok;
      }
      if (ok == 10)
        ++good;
    });
  for (auto& t : threads)
    t.join();
  CHECK(good == 100);
}

TEST_CASE("random garbage bytes get errors and the server keeps serving", "[integration]") {
  modeld_process server;
  std::mt19937 random(1234);
  for (int round = 0; round < 5; ++round) {
    line_client client(server.port());
    std::string garbage(64 * 1024, '\0');
    for (auto& byte : garbage)
      byte = static_cast<char>(random() % 256);
    client.send_raw(garbage);
    client.send_raw("\n{\"request_id\":\"after\",\"command\":\"ping\"}\n");
    bool saw_after = false;
    while (auto line = client.read_line(std::chrono::seconds(10))) {
      auto response = json::parse(*line);
      if (response.at("request_id") == "after") {
        saw_after = true;
        break;
      }
      CHECK(response.at("success") == false);
    }
    CHECK(saw_after);
  }
  line_client fresh(server.port());
  CHECK(fresh.call({{"command", "ping"}}).at("success") == true);
}

TEST_CASE("a 2 MiB line is FRAME_TOO_LARGE and the connection stays usable", "[integration]") {
  modeld_process server;
  line_client client(server.port());
  std::string huge = "{\"command\":\"ping\",\"pad\":\"" + std::string(2 << 20, 'x') + "\"}\n";
  client.send_raw(huge);
  auto response = client.read_json();
  CHECK(error_code_of(response) == "FRAME_TOO_LARGE");
  CHECK(response.at("error").at("details").at("limit_bytes") == 1 << 20);
  CHECK(client.call({{"request_id", "still"}, {"command", "ping"}}).at("request_id") == "still");
}

TEST_CASE("a stalled half line blocks no other connection and is closed after its timeout", "[integration]") {
  modeld_process server({"--half-line-timeout-ms", "1500"});
  line_client stalled(server.port());
  stalled.send_raw("{\"command\":\"pi");
  line_client other(server.port());
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i)
    REQUIRE(other.call({{"command", "get_model_status"}}).at("success") == true);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  auto notice = stalled.read_json(std::chrono::seconds(10));
  CHECK(error_code_of(notice) == "TIMEOUT");
  CHECK(stalled.closed_by_server());
  CHECK(other.call({{"command", "ping"}}).at("success") == true);
}

TEST_CASE("connections beyond the limit get one OVERLOADED line and are closed", "[integration]") {
  modeld_process server({"--max-connections", "2"});
  line_client a(server.port()), b(server.port());
  CHECK(a.call({{"command", "ping"}}).at("success") == true);
  CHECK(b.call({{"command", "ping"}}).at("success") == true);
  line_client c(server.port());
  CHECK(error_code_of(c.read_json()) == "OVERLOADED");
  CHECK(c.closed_by_server());
  CHECK(a.call({{"command", "ping"}}).at("success") == true);
}

TEST_CASE("with a token file, clients must say hello with the token", "[integration]") {
  temp_dir dir;
  auto token_file = dir.path + "/token";
  {
    std::FILE* f = std::fopen(token_file.c_str(), "w");
    std::fputs("s3cret-token\n", f);
    std::fclose(f);
  }
  modeld_process server({"--auth-token-file", token_file});
  line_client client(server.port());
  CHECK(error_code_of(client.call({{"command", "get_model_status"}})) == "UNAUTHENTICATED");
  CHECK(client.call({{"command", "hello"}, {"data", {{"token", "s3cret-token"}}}}).at("success") == true);
  CHECK(client.call({{"command", "get_model_status"}}).at("success") == true);

  line_client intruder(server.port());
  CHECK(error_code_of(intruder.call({{"command", "hello"}, {"data", {{"token", "guess"}}}})) == "UNAUTHENTICATED");
  CHECK(intruder.closed_by_server());

  // One byte off at the end, a prefix, the token and more, nothing: each refused.
  for (const char* wrong : {"s3cret-tokeN", "s3cret-toke", "s3cret-token-and-more", ""}) {
    line_client other(server.port());
    CHECK(error_code_of(other.call({{"command", "hello"}, {"data", {{"token", wrong}}}})) == "UNAUTHENTICATED");
  }
}

TEST_CASE("subscribe_status pushes status until unsubscribe", "[integration]") {
  modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=1GiB"});
  line_client client(server.port());
  auto subscribed = data_of(client.call({{"request_id", "s"}, {"command", "subscribe_status"},
                                         {"data", {{"interval_ms", 100}, {"device_id", "cpu:1"}}}}));
  auto id = std::string{subscribed.at("subscription_id").as_string()};
  CHECK(subscribed.at("interval_ms") == 100);
  int pushes = 0;
  auto start = std::chrono::steady_clock::now();
  while (pushes < 3) {
    auto event = client.read_json(std::chrono::seconds(2));
    REQUIRE(event.at("event") == "status");
    CHECK(event.at("subscription_id") == id.c_str());
    auto& devices = event.at("data").at("devices").as_array();
    REQUIRE(devices.size() == 1);
    CHECK(devices[0].at("device_id") == "cpu:1");
    ++pushes;
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  client.send({{"request_id", "u"}, {"command", "unsubscribe"}, {"data", {{"subscription_id", id}}}});
  // Pushes already queued may arrive before the answer; none after it.
  while (true) {
    auto line = client.read_json(std::chrono::seconds(2));
    if (line.as_object().contains("event"))
      continue;
    CHECK(line.at("request_id") == "u");
    CHECK(data_of(line).at("unsubscribed") == true);
    break;
  }
  CHECK_FALSE(client.read_line(std::chrono::milliseconds(400)));

  CHECK(error_code_of(client.call({{"command", "unsubscribe"}, {"data", {{"subscription_id", id}}}})) == "INVALID_REQUEST");
  CHECK(error_code_of(client.call({{"command", "subscribe_status"}, {"data", {{"interval_ms", 1}}}})) == "INVALID_REQUEST");
  CHECK(error_code_of(client.call({{"command", "subscribe_status"}, {"data", {{"device_id", "cuda:9"}}}})) ==
        "DEVICE_NOT_FOUND");
}

TEST_CASE("a connection holds at most 16 subscriptions", "[integration]") {
  modeld_process server;
  line_client client(server.port());
  int accepted = 0;
  std::string last_code;
  for (int i = 0; i < 17; ++i) {
    client.send({{"request_id", i}, {"command", "subscribe_status"}, {"data", {{"interval_ms", 3600000}}}});
    while (true) {
      auto line = client.read_json();
      if (line.as_object().contains("event"))
        continue;
      if (line.at("success") == true)
        ++accepted;
      else
        last_code = std::string{line.at("error").at("code").as_string()};
      break;
    }
  }
  CHECK(accepted == 16);
  CHECK(last_code == "OVERLOADED");
}

TEST_CASE("response_case takes its value in any case", "[integration][enums]") {
  modeld_process server;
  line_client client(server.port());
  CHECK(client.call({{"command", "hello"}, {"data", {{"response_case", "CAMELCASE"}}}}).at("data").at("responseCase") ==
        "camel");
  CHECK(client.call({{"command", "hello"}, {"data", {{"responseCase", "Pascal"}}}}).at("Data").at("ResponseCase") ==
        "pascal");
}

TEST_CASE("an idle connection is told so and closed after --idle-timeout-ms", "[integration][idle]") {
  modeld_process server({"--idle-timeout-ms", "300", "--max-connections", "3"});
  line_client idle(server.port());
  line_client chatty(server.port());
  line_client subscribed(server.port());
  data_of(subscribed.call({{"command", "subscribe_status"}, {"data", {{"interval_ms", 5000}}}}));
  subscribed.read_json(); // the first push comes at once
  auto start = std::chrono::steady_clock::now();

  // Requests every 100 ms and a subscription keep theirs open well past the timeout.
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000)) {
    REQUIRE(chatty.call({{"command", "ping"}}).at("success") == true);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK_FALSE(subscribed.read_line(std::chrono::milliseconds(100))); // no notice, no close
  CHECK(subscribed.call({{"command", "ping"}}).at("success") == true);

  auto notice = idle.read_json(std::chrono::seconds(5));
  CHECK(error_code_of(notice) == "TIMEOUT");
  CHECK(notice.at("error").at("message").as_string().find("idle") != json::string::npos);
  CHECK(notice.at("request_id").is_null());
  CHECK(idle.closed_by_server());

  // The closed idle connection freed its slot under --max-connections.
  line_client newcomer(server.port());
  CHECK(newcomer.call({{"command", "ping"}}).at("success") == true);
}
