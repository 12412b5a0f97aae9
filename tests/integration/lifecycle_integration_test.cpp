// Start-up failures, the SIGTERM/SIGINT drain and SIGHUP of the real binary.
#include "line_client.hpp"
#include "modeld_process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace modeld::test;
namespace json = boost::json;

namespace {

void expect_start_failure(std::vector<std::string> args, const std::string& mention) {
  temp_dir dir;
  bool has_root = false;
  for (auto& a : args)
    has_root = has_root || a == "--model-root";
  args.insert(args.end(), {"--data-dir", dir.path + "/data", "--listen", "127.0.0.1:0"});
  if (!has_root)
    args.insert(args.end(), {"--model-root", dir.path});
  auto result = run_modeld(args);
  INFO("stderr: " << result.stderr_text);
  CHECK(result.exit_code == 2);
  CHECK(result.stderr_text.rfind("modeld: ", 0) == 0);
  CHECK(std::count(result.stderr_text.begin(), result.stderr_text.end(), '\n') == 1);
  CHECK(result.stderr_text.find(mention) != std::string::npos);
}

} // namespace

TEST_CASE("bad start flags give one line on stderr and exit code 2", "[lifecycle]") {
  expect_start_failure({"--no-such-flag"}, "no-such-flag");
  expect_start_failure({"--model-root", "/nonexistent/models"}, "/nonexistent/models");
  expect_start_failure({"--devices", "cpu:0=lots"}, "--devices");
  expect_start_failure({"--devices", "cuda:5=1GiB"}, "cuda:5");
  expect_start_failure({"--cache-size", "big"}, "--cache-size");
  expect_start_failure({"--auth-token-file", "/nonexistent/token"}, "--auth-token-file");
}

TEST_CASE("a busy port gives one line on stderr and exit code 2", "[lifecycle]") {
  int blocker = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(blocker, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(listen(blocker, 1) == 0);
  socklen_t length = sizeof address;
  getsockname(blocker, reinterpret_cast<sockaddr*>(&address), &length);
  auto port = std::to_string(ntohs(address.sin_port));
  temp_dir dir;
  auto result = run_modeld({"--listen", "127.0.0.1:" + port, "--data-dir", dir.path, "--devices", "cpu:0=1GiB"});
  close(blocker);
  INFO(result.stderr_text);
  CHECK(result.exit_code == 2);
  CHECK(result.stderr_text.find("cannot listen on 127.0.0.1:" + port) != std::string::npos);
}

TEST_CASE("--version and --help exit 0", "[lifecycle]") {
  CHECK(run_modeld({"--version"}).exit_code == 0);
  auto help = run_modeld({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.stdout_text.find("--model-root") != std::string::npos);
}

TEST_CASE("SIGTERM drains: in-flight requests are answered, then exit 0", "[lifecycle]") {
  for (int signal : {SIGTERM, SIGINT}) {
    modeld_process server({"--devices", "cpu:0=1GiB,cpu:1=1GiB,cpu:2=1GiB,cpu:3=1GiB"});
    line_client client(server.port());
    CHECK(client.call({{"command", "ping"}}).at("success") == true);
    std::string batch;
    for (int i = 0; i < 500; ++i)
      batch += json::serialize(json::object{{"request_id", i}, {"command", "get_model_status"}}) + "\n";
    client.send_raw(batch);
    auto first = client.read_json();
    CHECK(first.at("success") == true);
    std::set<std::int64_t> answered{first.at("request_id").as_int64()};
    int code = -2;
    std::thread stopper([&] { code = server.stop(signal); });
    while (auto line = client.read_line(std::chrono::seconds(10))) {
      auto response = json::parse(*line);
      CHECK(response.at("success") == true);
      answered.insert(response.at("request_id").as_int64());
    }
    stopper.join();
    CHECK(code == 0);
    CHECK(client.closed_by_server(std::chrono::seconds(1)));
    // Whatever was answered was answered once, with the right id; nothing was cut mid-line.
    for (auto id : answered)
      CHECK((id >= 0 && id < 500));
  }
}

TEST_CASE("a draining server accepts no new connections", "[lifecycle]") {
  modeld_process server;
  line_client idle(server.port());
  CHECK(idle.call({{"command", "ping"}}).at("success") == true);
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(idle.closed_by_server(std::chrono::seconds(1)));
  CHECK_THROWS(line_client(server.port()));
}

TEST_CASE("a device budget beyond the device's memory is refused at start", "[lifecycle]") {
  expect_start_failure({"--devices", "cpu:0=1GiB,cpu:1=1024TiB"}, "cpu:1");
  expect_start_failure({"--devices", "cpu:0=1024TiB"}, "exceeds");
}

TEST_CASE("a config file with a bad line or an unknown key is refused at start", "[lifecycle][config]") {
  temp_dir dir;
  auto config_with = [&](const std::string& text) {
    auto path = dir.path + "/modeld-" + std::to_string(std::hash<std::string>{}(text)) + ".toml";
    std::ofstream(path) << text;
    return path;
  };
  expect_start_failure({"--config", config_with("listne = \"127.0.0.1:0\"\n")}, "unknown key 'listne'");
  expect_start_failure({"--config", config_with("# modeld\nmax-connections = 8\nthis line is broken\n")}, "line 3");
  expect_start_failure({"--config", config_with("cache-size = \"4GiB\n")}, "quote");
  expect_start_failure({"--config", config_with("model-root = [\"/tmp\",\n")}, "not closed");
  expect_start_failure({"--config", config_with("[server]\nlisten = \"127.0.0.1:0\"\n")}, "sections");
  expect_start_failure({"--config", config_with("max-connections = lots\n")}, "max-connections");

  // A well-formed file still works, arrays and comments included.
  auto good = config_with("# modeld\nmax-in-flight = 7  # per connection\nmodel-root = [\"" + dir.path + "\",\n  \"" +
                          dir.path + "\"]\n\nenable-fault-injection = true\n");
  modeld_process server({"--config", good});
  line_client client(server.port());
  auto hello = client.call({{"command", "hello"}}).at("data");
  CHECK(hello.at("limits").at("max_in_flight_per_connection") == 7);
  CHECK(std::find(hello.at("capabilities").as_array().begin(), hello.at("capabilities").as_array().end(),
                  json::value("inject_fault")) != hello.at("capabilities").as_array().end());
}

// Every flag --help lists (but --help, --version and --config) is also a key of the config
// file, and packaging/modeld.toml, the package's /etc/modeld/modeld.toml, names each one.
TEST_CASE("every flag can be set from the config file", "[lifecycle][config]") {
  auto help = run_modeld({"--help"});
  REQUIRE(help.exit_code == 0);
  std::set<std::string> flags;
  std::istringstream lines(help.stdout_text);
  for (std::string line; std::getline(lines, line);) {
    auto start = line.find_first_not_of(' ');
    if (start == std::string::npos || line.compare(start, 1, "-") != 0)
      continue;
    auto dashes = line.find("--", start);
    if (dashes == std::string::npos)
      continue;
    auto end = line.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-", dashes + 2);
    flags.insert(line.substr(dashes + 2, end == std::string::npos ? std::string::npos : end - dashes - 2));
  }
  for (const char* not_a_key : {"help", "version", "config"})
    CHECK(flags.erase(not_a_key) == 1);

  temp_dir dir;
  std::ofstream(dir.path + "/token") << "file-token\n";
  // A value other than the default for each key, so that each one is read and checked.
  const std::map<std::string, std::string> values = {
    {"listen", "\"127.0.0.1:0\""},
    {"metrics-listen", "\"127.0.0.1:0\""},
    {"model-root", "[\"" + dir.path + "\"]"},
    {"data-dir", "\"" + dir.path + "/data\""},
    {"devices", "\"cpu:0=64MiB\""},
    {"cache-size", "\"64MiB\""},
    {"auth-token-file", "\"" + dir.path + "/token\""},
    {"enable-fault-injection", "true"},
    {"max-frame-bytes", "4096"},
    {"max-connections", "8"},
    {"max-in-flight", "7"},
    {"half-line-timeout-ms", "5000"},
    {"idle-timeout-ms", "0"},
    {"drain-grace-ms", "100"},
    {"status-deadline-ms", "300"},
    {"load-workers", "3"},
    {"read-workers", "3"},
    {"benchmark-workers", "2"},
    {"io-threads", "2"},
    {"actor-threads", "2"},
    {"log-level", "\"debug\""},
    {"log-format", "\"json\""},
    {"slow-request-ms", "0"},
    {"default-keep-alive-ms", "60000"},
    {"auto-evict", "true"},
    {"eviction-policy", "\"lru\""},
    {"share-components", "false"},
    {"node-name", "\"config-node\""},
    {"node-listen", "\"127.0.0.1:0\""},
    {"join", "[\"127.0.0.1:1\"]"}, // nothing listens there: it keeps trying, and modeld serves
    {"node-secret-file", "\"" + dir.path + "/token\""},
  };
  std::ifstream shipped_file(std::string{MODELD_SOURCE_DIR} + "/packaging/modeld.toml");
  std::string shipped((std::istreambuf_iterator<char>(shipped_file)), {});
  std::string config;
  for (const auto& flag : flags) {
    INFO("--" << flag << ": give it a value in this test and a line in packaging/modeld.toml");
    REQUIRE(values.contains(flag));
    // A line of its own, set or commented out: `listen = ` inside `metrics-listen = ` is not one.
    CHECK((shipped.find("\n" + flag + " = ") != std::string::npos ||
           shipped.find("\n# " + flag + " = ") != std::string::npos));
    config += flag + " = " + values.at(flag) + "\n";
  }
  std::ofstream(dir.path + "/all.toml") << config;

  // modeld_process adds --data-dir, --model-root and --listen, which win over the file's.
  modeld_process server({"--config", dir.path + "/all.toml", "--devices", "cpu:0=64MiB"});
  CHECK(server.metrics_port().has_value());
  CHECK(server.node_port().has_value());
  line_client client(server.port());
  auto hello = client.call({{"command", "hello"}, {"data", {{"token", "file-token"}}}});
  REQUIRE(hello.at("success") == true);
  CHECK(hello.at("data").at("limits").at("max_in_flight_per_connection") == 7);
  CHECK(hello.at("data").at("limits").at("max_frame_bytes") == 4096);
  CHECK(server.stop(SIGTERM) == 0);
  // log-format = "json": the log lines are JSON objects. (A linked library may write a plain
  // line of its own, such as libgcrypt's "using insecure memory", so not every line is.)
  std::istringstream log(server.stderr_text());
  int json_lines = 0;
  for (std::string line; std::getline(log, line);) {
    CHECK(line.find("Z info ") == std::string::npos); // the text format's
    if (!line.empty() && line.front() == '{')
      json_lines += json::parse(line).as_object().contains("event") ? 1 : 0;
  }
  CHECK(json_lines > 0);
}

TEST_CASE("SIGHUP is logged and ignored", "[lifecycle]") {
  modeld_process server;
  line_client client(server.port());
  REQUIRE(kill(server.pid(), SIGHUP) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(server.running());
  CHECK(client.call({{"command", "ping"}}).at("success") == true);
  CHECK(server.stderr_text().find("sighup_ignored") != std::string::npos);
  CHECK(server.stop(SIGTERM) == 0);
}
