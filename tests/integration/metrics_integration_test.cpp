// GET /metrics of the real modeld over TCP on 127.0.0.1 (--metrics-listen 127.0.0.1:0, the
// HTTP written by hand): every family with its TYPE, values that agree with get_model_status,
// requests counted by command and code, load durations, an answer while a device hangs, and
// the listener's limits.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <thread>
#include <vector>

using namespace modeld::test;
namespace json = boost::json;

namespace {

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers; // names in lower case
  std::string body;
};

// One request on a fresh connection (Connection: close), read to the end.
http_reply http_request(std::uint16_t port, const std::string& method, const std::string& target) {
  line_client client(port);
  client.send_raw(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  http_reply reply;
  auto status_line = client.read_line();
  REQUIRE(status_line);
  REQUIRE(status_line->rfind("HTTP/1.1 ", 0) == 0);
  reply.status = std::stoi(status_line->substr(9, 3));
  while (auto line = client.read_line()) {
    if (!line->empty() && line->back() == '\r')
      line->pop_back();
    if (line->empty())
      break;
    auto colon = line->find(':');
    REQUIRE(colon != std::string::npos);
    auto name = line->substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    reply.headers[name] = line->substr(line->find_first_not_of(' ', colon + 1));
  }
  while (auto line = client.read_line())
    reply.body += *line + "\n";
  CHECK(reply.headers.at("content-length") == std::to_string(reply.body.size()));
  return reply;
}

// A scrape, parsed: TYPE and HELP per family, the value of every `name{labels}` as written.
struct scrape {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
  std::map<std::string, double> values;

  double at(const std::string& series) const {
    INFO("series " << series);
    REQUIRE(values.count(series) == 1);
    return values.at(series);
  }
  bool has(const std::string& series) const { return values.count(series) == 1; }
};

scrape parse_scrape(const std::string& text) {
  scrape out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    REQUIRE(end != std::string::npos); // every line ends in a line feed
    auto line = text.substr(start, end - start);
    start = end + 1;
    for (auto [prefix, into] : {std::pair{"# TYPE ", &out.types}, std::pair{"# HELP ", &out.helps}})
      if (line.rfind(prefix, 0) == 0) {
        auto rest = line.substr(7);
        auto space = rest.find(' ');
        (*into)[rest.substr(0, space)] = rest.substr(space + 1);
      }
    if (line.rfind("#", 0) == 0)
      continue;
    auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out.values[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

scrape scrape_metrics(std::uint16_t port) {
  auto reply = http_request(port, "GET", "/metrics");
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.at("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  return parse_scrape(reply.body);
}

std::string series(const std::string& name, const std::vector<std::pair<std::string, std::string>>& labels) {
  std::string out = name + "{";
  for (std::size_t i = 0; i < labels.size(); ++i)
    out += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
  return out + "}";
}

const std::vector<std::string> device_states{"ready", "busy", "unresponsive", "restarting", "unreachable", "failed"};

struct metrics_server {
  temp_dir models;
  std::unique_ptr<modeld_process> server;
  std::uint16_t metrics_port = 0;

  metrics_server() {
    write_file(models.path + "/tiny.safetensors", safetensors_bytes(1 << 16)); // 256 KiB of tensor
    // A generous status deadline: only the injected hang makes a device unresponsive here.
    server = std::make_unique<modeld_process>(std::vector<std::string>{
      "--devices", "cpu:0=1GiB,cpu:1=1GiB", "--metrics-listen", "127.0.0.1:0", "--model-root", models.path,
      "--status-deadline-ms", "5000", "--enable-fault-injection"});
    REQUIRE(server->metrics_port());
    metrics_port = *server->metrics_port();
  }
};

json::value command(const std::string& name, json::object data = {}) {
  return json::object{{"command", name}, {"data", std::move(data)}};
}

} // namespace

TEST_CASE("metrics agree with get_model_status and count the requests sent", "[metrics]") {
  metrics_server s;
  line_client client(s.server->port());
  for (int i = 0; i < 3; ++i)
    data_of(client.call(command("ping")));
  CHECK(error_code_of(client.call(command("no_such_command"))) == "UNKNOWN_COMMAND");
  client.send_raw("{not json\n");
  CHECK(error_code_of(client.read_json()) == "INVALID_JSON");
  CHECK(error_code_of(client.call(command("get_model", {{"model_id", "missing.safetensors"}}))) == "MODEL_NOT_FOUND");

  // A miss, then (after the cache has taken the file) an unload and a hit.
  auto first = data_of(client.call(command("post_model_load", {{"model_id", "tiny.safetensors"}, {"device_id", "cpu:0"}})));
  CHECK(first.at("from_cache") == false);
  int cache_calls = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);;) {
    ++cache_calls;
    auto cache = data_of(client.call(command("get_model_cache")));
    if (!cache.at("entries").as_array().empty())
      break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  data_of(client.call(command("post_model_unload", {{"model_id", "tiny.safetensors"}})));
  auto second = data_of(client.call(command("post_model_load", {{"model_id", "tiny.safetensors"}, {"device_id", "cpu:0"}})));
  CHECK(second.at("from_cache") == true);

  auto status = data_of(client.call(command("get_model_status")));
  auto m = scrape_metrics(s.metrics_port);

  const std::map<std::string, std::string> families{
    {"modeld_device_memory_bytes", "gauge"},  {"modeld_device_state", "gauge"},
    {"modeld_device_restarts_total", "counter"}, {"modeld_loaded_models", "gauge"},
    {"modeld_load_seconds", "histogram"},     {"modeld_evictions_total", "counter"},
    {"modeld_cache_bytes", "gauge"},          {"modeld_cache_hits_total", "counter"},
    {"modeld_cache_misses_total", "counter"}, {"modeld_requests_total", "counter"},
    {"modeld_request_seconds", "histogram"},  {"modeld_service_state", "gauge"},
    {"modeld_failed_loads_total", "counter"},
  };
  for (auto& [name, type] : families) {
    INFO(name);
    CHECK(m.types[name] == type);
    CHECK(!m.helps[name].empty());
  }

  REQUIRE(status.at("devices").as_array().size() == 2);
  for (auto& device : status.at("devices").as_array()) {
    std::string id{device.at("device_id").as_string()};
    INFO(id);
    auto& memory = device.at("memory");
    CHECK(m.at(series("modeld_device_memory_bytes", {{"device", id}, {"kind", "total"}})) ==
          memory.at("total").to_number<double>());
    CHECK(m.at(series("modeld_device_memory_bytes", {{"device", id}, {"kind", "budget"}})) == 1073741824.0);
    CHECK(m.at(series("modeld_device_memory_bytes", {{"device", id}, {"kind", "budget"}})) ==
          memory.at("budget").to_number<double>());
    CHECK(m.at(series("modeld_device_memory_bytes", {{"device", id}, {"kind", "used"}})) ==
          memory.at("used").to_number<double>());
    CHECK(m.at(series("modeld_device_memory_bytes", {{"device", id}, {"kind", "logical"}})) ==
          memory.at("logical").to_number<double>());
    CHECK(m.at(series("modeld_device_memory_bytes", {{"device", id}, {"kind", "shared_saved"}})) ==
          memory.at("shared_saved").to_number<double>());
    for (auto& state : device_states)
      CHECK(m.at(series("modeld_device_state", {{"device", id}, {"state", state}})) ==
            (device.at("state") == state.c_str() ? 1 : 0));
    CHECK(m.at(series("modeld_device_restarts_total", {{"device", id}})) == device.at("restarts").to_number<double>());
    CHECK(m.at(series("modeld_loaded_models", {{"device", id}})) ==
          static_cast<double>(device.at("loaded_models").as_array().size()));
    auto& stats = device.at("statistics");
    CHECK(m.at(series("modeld_evictions_total", {{"device", id}})) == stats.at("evictions").to_number<double>());
    CHECK(m.at(series("modeld_failed_loads_total", {{"device", id}})) == stats.at("failed_loads").to_number<double>());
    // The histogram counts each load that loaded once, with the duration its statistics use.
    double count = 0, sum = 0;
    for (std::string from_cache : {"false", "true"}) {
      auto labels = "device=\"" + id + "\",from_cache=\"" + from_cache + "\"";
      auto n = m.at("modeld_load_seconds_count{" + labels + "}");
      CHECK(m.at("modeld_load_seconds_bucket{" + labels + ",le=\"+Inf\"}") == n);
      CHECK(m.at("modeld_load_seconds_bucket{" + labels + ",le=\"0.01\"}") <=
            m.at("modeld_load_seconds_bucket{" + labels + ",le=\"120\"}"));
      count += n;
      sum += m.at("modeld_load_seconds_sum{" + labels + "}");
    }
    CHECK(count == stats.at("loads").to_number<double>());
    if (count > 0)
      CHECK(sum * 1000 / count == Approx(stats.at("mean_load_time_ms").to_number<double>()).epsilon(1e-3).margin(1e-3));
  }
  CHECK(m.at("modeld_load_seconds_count{device=\"cpu:0\",from_cache=\"false\"}") == 1);
  CHECK(m.at("modeld_load_seconds_count{device=\"cpu:0\",from_cache=\"true\"}") == 1);
  CHECK(m.at("modeld_loaded_models{device=\"cpu:0\"}") == 1);
  CHECK(m.at("modeld_device_memory_bytes{device=\"cpu:0\",kind=\"used\"}") == first.at("memory_used_bytes").to_number<double>());

  auto& cache = status.at("cache");
  CHECK(m.at("modeld_cache_bytes{kind=\"budget\"}") == cache.at("budget_bytes").to_number<double>());
  CHECK(m.at("modeld_cache_bytes{kind=\"used\"}") == cache.at("used_bytes").to_number<double>());
  CHECK(m.at("modeld_cache_bytes{kind=\"logical\"}") == cache.at("logical_bytes").to_number<double>());
  CHECK(m.at("modeld_cache_bytes{kind=\"shared_saved\"}") == cache.at("shared_bytes_saved").to_number<double>());
  CHECK(m.at("modeld_cache_hits_total") == cache.at("statistics").at("hits").to_number<double>());
  CHECK(m.at("modeld_cache_misses_total") == cache.at("statistics").at("misses").to_number<double>());
  CHECK(m.at("modeld_cache_hits_total") == 1);
  CHECK(m.at("modeld_cache_misses_total") == 1);

  for (auto& service : status.at("services").as_array()) {
    std::string name{service.at("name").as_string()};
    for (std::string state : {"ready", "restarting", "failed"})
      CHECK(m.at(series("modeld_service_state", {{"service", name}, {"state", state}})) ==
            (service.at("state") == state.c_str() ? 1 : 0));
  }

  auto requests = [&](const std::string& cmd, const std::string& code) {
    return m.at(series("modeld_requests_total", {{"command", cmd}, {"code", code}}));
  };
  CHECK(requests("ping", "OK") == 3);
  CHECK(requests("unknown", "UNKNOWN_COMMAND") == 1);
  CHECK(requests("unknown", "INVALID_JSON") == 1);
  CHECK(requests("get_model", "MODEL_NOT_FOUND") == 1);
  CHECK(requests("post_model_load", "OK") == 2);
  CHECK(requests("post_model_unload", "OK") == 1);
  CHECK(requests("get_model_cache", "OK") == cache_calls);
  CHECK(requests("get_model_status", "OK") == 1);
  CHECK_FALSE(m.has(series("modeld_requests_total", {{"command", "hello"}, {"code", "OK"}})));
  CHECK(m.at("modeld_request_seconds_count{command=\"ping\"}") == 3);
  CHECK(m.at("modeld_request_seconds_bucket{command=\"ping\",le=\"+Inf\"}") == 3);
  CHECK(m.at("modeld_request_seconds_count{command=\"unknown\"}") == 2);
  CHECK(m.at("modeld_request_seconds_sum{command=\"post_model_load\"}") > 0);

  // Only /metrics, only GET.
  auto other = http_request(s.metrics_port, "GET", "/other");
  CHECK(other.status == 404);
  auto post = http_request(s.metrics_port, "POST", "/metrics");
  CHECK(post.status == 405);
  CHECK(post.headers.at("allow") == "GET");
}

TEST_CASE("a hung device is unresponsive in the metrics at once, and the scrape does not wait on it", "[metrics]") {
  metrics_server s;
  line_client client(s.server->port());
  auto injected = client.call(
    command("inject_fault", {{"target", "device:cpu:1"}, {"mode", "hang"}, {"duration_ms", 3000}}));
  data_of(injected);
  auto started = std::chrono::steady_clock::now();
  auto m = scrape_metrics(s.metrics_port);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  CHECK(m.at("modeld_device_state{device=\"cpu:1\",state=\"unresponsive\"}") == 1);
  CHECK(m.at("modeld_device_state{device=\"cpu:1\",state=\"ready\"}") == 0);
  CHECK(m.at("modeld_device_state{device=\"cpu:0\",state=\"ready\"}") == 1);
  // Shown as it last reported, as status does.
  CHECK(m.at("modeld_device_memory_bytes{device=\"cpu:1\",kind=\"used\"}") == 0);
  CHECK(m.at("modeld_requests_total{command=\"inject_fault\",code=\"OK\"}") == 1);
}

TEST_CASE("the metrics listener bounds connections, request size and idle time", "[metrics]") {
  metrics_server s;
  // Eight connections that send nothing hold every slot; a ninth is closed at once.
  std::vector<std::unique_ptr<line_client>> idle;
  for (int i = 0; i < 8; ++i)
    idle.push_back(std::make_unique<line_client>(s.metrics_port));
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // accepted by now
  line_client ninth(s.metrics_port);
  CHECK(ninth.closed_by_server(std::chrono::seconds(2)));
  // The read timeout (5 s) closes the idle ones, which frees their slots.
  for (auto& c : idle)
    CHECK(c->closed_by_server(std::chrono::seconds(10)));
  idle.clear();
  CHECK(http_request(s.metrics_port, "GET", "/metrics").status == 200);

  // A request past the size limit (8 KiB) is not answered: the connection closes.
  line_client big(s.metrics_port);
  big.send_raw("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + std::string(16384, 'a') + "\r\n\r\n");
  CHECK_FALSE(big.read_line(std::chrono::seconds(5)));
}
