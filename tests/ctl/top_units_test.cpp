// modelctl top's pure parts: status events read into rows, rates from counter deltas, changes
// derived from successive events, and the layout of 1 or 64 devices on a given screen.
#include "ctl/table.hpp"
#include "ctl/top_layout.hpp"
#include "ctl/top_model.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

using namespace modeld::ctl;
using namespace modeld::ctl::top;
namespace json = boost::json;

namespace {

using std::chrono::milliseconds;
constexpr std::int64_t now_ms = 1'764'521'400'000; // 2025-11-30T16:50:00Z
const model::clock::time_point t0{};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

json::object device(const std::string& id, const std::string& state, std::uint64_t used, std::uint64_t restarts,
                    json::array models = {}, std::uint64_t evictions = 0, std::uint64_t failed_loads = 0) {
  json::object memory{{"total", 1u << 30}, {"budget", 1u << 30}};
  if (state != "restarting" && state != "failed")
    memory["used"] = used;
  return {{"device_id", id},
          {"state", state},
          {"memory", memory},
          {"loaded_models", std::move(models)},
          {"restarts", restarts},
          {"last_error", restarts > 0 ? json::value("injected crash") : json::value()},
          {"statistics", {{"loads", 0}, {"unloads", 0}, {"evictions", evictions}, {"failed_loads", failed_loads}}}};
}

json::object loaded(const std::string& id, std::uint64_t bytes, std::int64_t last_used_ms) {
  return {{"model_id", id}, {"dtype", "fp16"}, {"bytes", bytes}, {"last_used_ms", last_used_ms}};
}

struct counters {
  std::uint64_t loads = 0, unloads = 0, evictions = 0, hits = 0, misses = 0, bytes_read = 0, cache_evictions = 0;
  std::uint64_t failed_loads = 0, requests = 0, failed_requests = 0;
};

json::value status(json::array devices, counters c = {}, std::string health = "healthy",
                   std::string cache_state = "ready", std::uint64_t cache_restarts = 0) {
  auto total = devices.size();
  return json::object{
    {"overall_health", health},
    {"devices", std::move(devices)},
    {"services", json::array{json::object{{"name", "cache"}, {"state", cache_state}, {"restarts", cache_restarts}}}},
    {"statistics",
     {{"devices_total", total},
      {"devices_reachable", total},
      {"loads", c.loads},
      {"unloads", c.unloads},
      {"evictions", c.evictions},
      {"failed_loads", c.failed_loads}}},
    {"requests", {{"answered", c.requests}, {"failed", c.failed_requests}}},
    {"cache",
     {{"budget_bytes", 4u << 30},
      {"used_bytes", 2359296},
      {"entries", json::array{}},
      {"statistics",
       {{"hits", c.hits}, {"misses", c.misses}, {"evictions", c.cache_evictions}, {"bytes_read", c.bytes_read}}}}},
    {"workers", {{"loads", {{"workers", 2}, {"busy", 1}, {"queued", 3}, {"done", 9}}}}}};
}

std::vector<std::string> texts_of(const model& m) {
  std::vector<std::string> out;
  for (auto& c : m.changes())
    out.push_back(c.text);
  return out;
}

// The first line of `f` that starts with `prefix`, or "" when none does.
std::string line_starting(const frame& f, const std::string& prefix) {
  for (auto& l : f.lines)
    if (l.text.rfind(prefix, 0) == 0)
      return l.text;
  return {};
}

} // namespace

TEST_CASE("top reads status events, and anything ill-formed as absent, never throwing", "[ctl][units]") {
  auto s = parse_status(status({device("cpu:0", "ready", 2359296, 0, {loaded("a.safetensors", 2359296, now_ms)})}));
  REQUIRE(s.devices.size() == 1);
  CHECK(s.devices[0].used == 2359296u);
  CHECK(s.devices[0].budget == 1u << 30);
  CHECK(s.devices[0].models.at(0).model_id == "a.safetensors");
  CHECK(s.cache.entries == 0u);
  REQUIRE(s.pools.size() == 1);
  CHECK(s.pools[0].queued == 3u);

  auto restarting = parse_status(status({device("cpu:1", "restarting", 0, 2)}));
  CHECK_FALSE(restarting.devices[0].used); // absent, not 0
  CHECK(restarting.devices[0].last_error == "injected crash");

  for (auto text : {"null", "[]", "\"status\"", R"({"devices": 7})", R"({"devices": [1, null, {"memory": "x"}]})",
                    R"({"devices": [{"device_id": 5, "restarts": -3, "loaded_models": {"a": 1}}]})",
                    R"({"cache": [], "statistics": {"loads": "many"}, "workers": [1]})"}) {
    INFO(text);
    snapshot odd;
    REQUIRE_NOTHROW(odd = parse_status(json::parse(text)));
    for (auto& d : odd.devices)
      CHECK_FALSE(d.restarts);
    CHECK_FALSE(odd.loads);
    model m;
    REQUIRE_NOTHROW(m.on_status(json::parse(text), t0, now_ms));
    REQUIRE_NOTHROW(m.on_status(json::parse(text), t0 + milliseconds(500), now_ms));
    REQUIRE_NOTHROW(lay_out(m, {"127.0.0.1:7311"}, {80, 24}, 0, now_ms));
  }
}

TEST_CASE("top's rates come from counter deltas between two events, '-' before", "[ctl][units]") {
  model m;
  m.on_connected("127.0.0.1:7311", now_ms);
  m.on_status(status({}, {.loads = 1, .hits = 10, .misses = 2, .bytes_read = 1000}), t0, now_ms);
  CHECK_FALSE(m.current_rates().loads);
  auto first = lay_out(m, {"127.0.0.1:7311", milliseconds(1000), true}, {120, 24}, 0, now_ms);
  CHECK(contains(line_starting(first, "per second"), "requests - (failed -)  loads - (failed -)  unloads -"));

  m.on_status(status({}, {.loads = 5, .unloads = 1, .hits = 13, .misses = 2, .bytes_read = 3000, .failed_loads = 2,
                          .requests = 400, .failed_requests = 6}),
              t0 + milliseconds(2000), now_ms + 2000);
  auto& r = m.current_rates();
  CHECK(*r.loads == Approx(2.0));
  CHECK(*r.unloads == Approx(0.5));
  CHECK(*r.evictions == Approx(0.0));
  CHECK(*r.cache_hits == Approx(1.5));
  CHECK(*r.bytes_read == Approx(1000.0));
  CHECK(*r.requests == Approx(200.0));
  CHECK(*r.failed_requests == Approx(3.0));
  CHECK(*r.failed_loads == Approx(1.0));
  auto second = lay_out(m, {"127.0.0.1:7311", milliseconds(1000), true}, {160, 24}, 0, now_ms);
  CHECK(contains(line_starting(second, "per second"),
                 "requests 200.00 (failed 3.00)  loads 2.00 (failed 1.00)  unloads 0.50"));
  CHECK(contains(line_starting(second, "per second"), "read 1000B/s"));
  CHECK(contains(line_starting(second, "cache"), "hits 86.7% of 15 lookups"));
  CHECK(contains(line_starting(second, "queued"), "loads 3 (busy 1/2)"));

  // A counter that went back (a restarted cache counts from 0) has no rate, not a negative one.
  m.on_status(status({}, {.loads = 6, .unloads = 1, .hits = 0, .misses = 0}), t0 + milliseconds(3000), now_ms + 3000);
  CHECK(*m.current_rates().loads == Approx(1.0));
  CHECK_FALSE(m.current_rates().cache_hits);

  // A new connection (modeld may have restarted): '-' again until its second event.
  m.on_disconnected("connection lost", now_ms + 4000);
  CHECK_FALSE(m.current_rates().loads);
  m.on_connected("127.0.0.1:7311", now_ms + 5000);
  m.on_status(status({}, {.loads = 0}), t0 + milliseconds(5000), now_ms + 5000);
  CHECK_FALSE(m.current_rates().loads);
  m.on_status(status({}, {.loads = 2}), t0 + milliseconds(6000), now_ms + 6000);
  CHECK(*m.current_rates().loads == Approx(2.0));
}

TEST_CASE("top derives changes from successive events", "[ctl][units]") {
  model m;
  auto a = loaded("a.safetensors", 1024, now_ms);
  auto b = loaded("b.gguf", 2048, now_ms);
  m.on_status(status({device("cpu:0", "ready", 1024, 0, {a}), device("cpu:1", "ready", 2048, 0, {b})}), t0, now_ms);
  CHECK(m.changes().empty()); // the first event is a baseline

  m.on_status(status({device("cpu:0", "busy", 3072, 0, {a, b}, 1, 2), device("cpu:1", "restarting", 0, 1)},
                     {.cache_evictions = 2}, "degraded", "restarting", 1),
              t0 + milliseconds(1000), now_ms + 1000);
  auto seen = texts_of(m);
  INFO([&] { std::string all; for (auto& s : seen) all += s + "\n"; return all; }());
  auto has = [&](const std::string& text) { return std::find(seen.begin(), seen.end(), text) != seen.end(); };
  CHECK(has("health healthy -> degraded"));
  CHECK(has("cpu:0 ready -> busy"));
  CHECK(has("cpu:0 evicted 1 model"));
  CHECK(has("cpu:0: 2 loads failed (failed loads 2)"));
  CHECK(has("cpu:0 loaded b.gguf (fp16, 2KiB)"));
  CHECK(has("cpu:1 restarted (restarts 1): injected crash"));
  CHECK(has("cpu:1 ready -> restarting"));
  CHECK_FALSE(has("cpu:1 unloaded b.gguf")); // gone with the restart, not unloaded
  CHECK(has("service cache restarted (restarts 1)"));
  CHECK(has("service cache ready -> restarting"));
  CHECK(has("cache evicted 2 entries"));
  CHECK(m.changes().back().at_ms == now_ms + 1000);

  m.on_status(status({device("cpu:0", "ready", 1024, 0, {a}, 1), device("cpu:1", "ready", 0, 1),
                      device("cpu:2", "ready", 0, 0)},
                     {.cache_evictions = 2}),
              t0 + milliseconds(2000), now_ms + 2000);
  seen = texts_of(m);
  CHECK(has("cpu:0 unloaded b.gguf"));
  CHECK(has("cpu:1 restarting -> ready"));
  CHECK(has("cpu:2 appeared (ready)"));
  CHECK(has("health degraded -> healthy"));

  // A restart between two events (faster than the interval) shows as the count that grew.
  m.on_status(status({device("cpu:0", "ready", 0, 1), device("cpu:1", "ready", 0, 1)}), t0 + milliseconds(3000),
              now_ms + 3000);
  seen = texts_of(m);
  CHECK(has("cpu:0 restarted (restarts 1): injected crash"));
  CHECK_FALSE(has("cpu:0 unloaded a.safetensors"));
  CHECK(has("cpu:2 is gone from status"));

  for (int i = 0; i < 500; ++i)
    m.on_connected("x", now_ms);
  CHECK(m.changes().size() == model::kept_changes);
}

TEST_CASE("top lays out one device with its models, bars and idle times", "[ctl][units]") {
  model m;
  m.on_connected("127.0.0.1:7311", now_ms);
  m.on_status(status({device("cpu:0", "ready", 268435456, 0,
                             {loaded("checkpoints/demo-sd15.safetensors", 2286594, now_ms - 125'000)})}),
              t0, now_ms);
  auto f = lay_out(m, {"127.0.0.1:7311", milliseconds(1000), true}, {100, 24}, 0, now_ms);
  REQUIRE(f.lines.size() == 24);
  CHECK_FALSE(f.folded);
  CHECK(f.max_scroll == 0);
  CHECK(contains(f.lines[0].text, "modeld 127.0.0.1:7311  healthy  1/1 devices reachable  every 1000 ms  status at 16:50:00Z"));
  auto row = line_starting(f, "cpu:0");
  INFO(row);
  CHECK(contains(row, "ready"));
  CHECK(contains(row, "[##########............................]")); // a quarter of the budget, 40 wide
  CHECK(contains(row, "256MiB/1GiB"));
  auto model_line = line_starting(f, "    checkpoints/demo-sd15.safetensors");
  CHECK(contains(model_line, "fp16"));
  CHECK(contains(model_line, "2.18MiB"));
  CHECK(contains(model_line, "idle 2m05s"));
  CHECK(contains(f.lines.back().text, "connected to modeld at 127.0.0.1:7311"));
  for (auto& l : f.lines)
    CHECK(display_width(l.text) <= 100);

  link_state down{"127.0.0.1:7311", milliseconds(1000), false, "Connection refused", 2, milliseconds(1500)};
  auto lost = lay_out(m, down, {100, 24}, 0, now_ms);
  CHECK(contains(lost.lines[0].text, "disconnected, retrying in 1.5 s (attempt 3): Connection refused"));
  CHECK(lost.lines[0].shade == tone::error);
  CHECK(contains(line_starting(lost, "cpu:0"), "256MiB/1GiB")); // the last status, as of its time
}

TEST_CASE("top fits 64 devices on a 24-line screen, one line each, and scrolls", "[ctl][units]") {
  json::array devices;
  for (int i = 0; i < 64; ++i) {
    // std::string{...} +, not "literal" + ...: g++ 12 -O3 warns on that (-Wrestrict, a false positive).
    auto n = std::to_string(i);
    devices.push_back(device(std::string{"cuda:"}.append(n), i == 7 ? "unresponsive" : "ready", 1u << 20, 0,
                             {loaded(std::string{"m"}.append(n).append(".safetensors"), 1u << 20, now_ms)}));
  }
  model m;
  m.on_status(status(std::move(devices)), t0, now_ms);
  link_state up{"127.0.0.1:7311", milliseconds(1000), true};

  auto top_of = lay_out(m, up, {80, 24}, 0, now_ms);
  REQUIRE(top_of.lines.size() == 24);
  for (auto& l : top_of.lines)
    CHECK(display_width(l.text) <= 80);
  CHECK(top_of.folded);
  CHECK(top_of.page == 13); // 24 lines: 5 of header, table heading, 13 devices, events heading, 4 events
  CHECK(top_of.max_scroll == 64 - 13);
  CHECK(!line_starting(top_of, "cuda:0 ").empty());
  CHECK(contains(line_starting(top_of, "cuda:0 "), "1: m0.safetensors")); // the models folded onto the line
  CHECK(line_starting(top_of, "cuda:13 ").empty());
  CHECK(contains(line_starting(top_of, "-- changes"), "(table lines 1-13 of 64: arrows, PgUp/PgDn)"));
  CHECK(line_starting(top_of, "cuda:7 ").find("unresponsive") != std::string::npos);

  auto bottom = lay_out(m, up, {80, 24}, 1000, now_ms); // past the end: clamped
  CHECK(bottom.scroll == 51);
  CHECK(!line_starting(bottom, "cuda:63 ").empty());
  CHECK(line_starting(bottom, "cuda:50 ").empty());
  CHECK(contains(line_starting(bottom, "-- changes"), "lines 52-64 of 64"));

  // Narrow and short terminals still get lines that fit; too small says so.
  for (screen_size size : {screen_size{40, 8}, screen_size{45, 11}, screen_size{200, 70}, screen_size{39, 30},
                           screen_size{100, 7}, screen_size{0, 0}}) {
    auto f = lay_out(m, up, size, 5, now_ms);
    INFO(size.width << "x" << size.height);
    CHECK(f.lines.size() == size.height);
    for (auto& l : f.lines)
      CHECK(display_width(l.text) <= size.width);
  }
  CHECK(contains(lay_out(m, up, {39, 30}, 0, now_ms).lines[0].text, "terminal too small"));
}

TEST_CASE("top's bars, idle times and cuts", "[ctl][units]") {
  CHECK(memory_bar(512, 1024, 12) == "[#####.....]");
  CHECK(memory_bar(1, 1u << 30, 7) == "[#....]"); // something is there: shown
  CHECK(memory_bar(0, 1024, 7) == "[.....]");
  CHECK(memory_bar(4096, 1024, 7) == "[#####]");
  CHECK(memory_bar(std::nullopt, 1024, 7) == "[     ]");
  CHECK(memory_bar(5, 0, 4) == "[  ]");
  CHECK(idle_text(now_ms - 42'000, now_ms) == "42s");
  CHECK(idle_text(now_ms - 187'000, now_ms) == "3m07s");
  CHECK(idle_text(now_ms - 7'500'000, now_ms) == "2h05m");
  CHECK(idle_text(now_ms - 356'400'000, now_ms) == "4d03h");
  CHECK(idle_text(now_ms + 5'000, now_ms) == "0s"); // a clock ahead of ours
  CHECK(idle_text(std::nullopt, now_ms) == "-");
  CHECK(fit("ünïcode.gguf", 3) == "ünï");
  CHECK(fit("abc", 10) == "abc");
  CHECK(fit("abc", 0).empty());
}
