// The memory policy over TCP on virtual devices: leases, keep-alive, pinning and priorities,
// cost-aware eviction and --auto-evict, with each device's `used` checked against the bytes of
// the models it lists.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace modeld::test;
namespace json = boost::json;

namespace {

constexpr std::size_t mib_of_floats = 262144; // 1 MiB of F32

// Models a, b, c, d of 1 MiB and big of 8 MiB, on devices of the given budgets.
struct policy_server {
  temp_dir models;
  std::unique_ptr<modeld_process> server;

  explicit policy_server(const std::string& devices, std::vector<std::string> extra = {}) {
    for (const char* name : {"a", "b", "c", "d"})
      write_file(models.path + "/" + name + ".safetensors", safetensors_bytes(mib_of_floats));
    write_file(models.path + "/big.safetensors", safetensors_bytes(8 * mib_of_floats));
    extra.insert(extra.begin(), {"--model-root", models.path, "--devices", devices});
    server = std::make_unique<modeld_process>(extra);
  }
  std::unique_ptr<line_client> connect() const { return std::make_unique<line_client>(server->port()); }
};

json::value call(line_client& client, const std::string& command, json::object data = {}) {
  return client.call(json::object{{"command", command}, {"data", std::move(data)}});
}

json::object load(line_client& client, const std::string& model_id, json::object extra = {}) {
  extra["model_id"] = model_id;
  return data_of(call(client, "post_model_load", std::move(extra))).as_object();
}

json::object device(line_client& client, const std::string& device_id) {
  return data_of(call(client, "get_device_status", {{"device_id", device_id}})).at("devices").at(0).as_object();
}

// The model as the device lists it, or null.
json::value listed(line_client& client, const std::string& device_id, const std::string& model_id) {
  auto status = device(client, device_id);
  for (auto& model : status.at("loaded_models").as_array())
    if (model.at("model_id") == model_id.c_str())
      return model;
  return nullptr;
}

// The device's used memory is the sum of the bytes of the models it lists.
void check_accounting(line_client& client, const std::string& device_id) {
  auto status = device(client, device_id);
  std::int64_t sum = 0;
  for (auto& model : status.at("loaded_models").as_array())
    sum += model.at("bytes").to_number<std::int64_t>();
  CHECK(status.at("memory").at("used").to_number<std::int64_t>() == sum);
}

// Polls (every 50 ms, at most `limit`) until `done`.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::vector<std::string> evicted_ids(const json::object& loaded) {
  std::vector<std::string> ids;
  for (auto& id : loaded.at("evicted").as_array())
    ids.emplace_back(id.as_string());
  return ids;
}

} // namespace

TEST_CASE("a leased model is neither unloaded nor evicted until its lease is released", "[memory_policy]") {
  policy_server s("cpu:0=3MiB");
  auto holder = s.connect();
  auto other = s.connect();
  REQUIRE(data_of(call(*holder, "hello", {{"client", "backend-1"}})).is_object());

  auto leased = load(*holder, "a.safetensors", {{"lease", true}});
  REQUIRE(leased.at("lease_id").is_string());
  auto lease_id = std::string{leased.at("lease_id").as_string()};
  CHECK(leased.at("already_loaded") == false);

  // Status lists the lease, and no expiry while it is held.
  auto model = listed(*other, "cpu:0", "a.safetensors");
  REQUIRE(model.is_object());
  REQUIRE(model.at("leases").as_array().size() == 1);
  CHECK(model.at("leases").at(0).at("lease_id") == lease_id.c_str());
  CHECK(model.at("leases").at(0).at("client") == "backend-1");
  CHECK(model.at("expires_at").is_null());

  // A plain unload answers CONFLICT with the holders and unloads nothing.
  auto refused = call(*other, "post_model_unload", {{"model_id", "a.safetensors"}});
  REQUIRE(error_code_of(refused) == "CONFLICT");
  auto& holders = refused.at("error").at("details").at("lease_holders").as_array();
  REQUIRE(holders.size() == 1);
  CHECK(holders.at(0).at("lease_id") == lease_id.c_str());
  CHECK(holders.at(0).at("client") == "backend-1");
  CHECK(listed(*other, "cpu:0", "a.safetensors").is_object());

  // Unloading everything keeps it and says so.
  auto everything = data_of(call(*other, "post_model_unload", {{"device_id", "cpu:0"}}));
  CHECK(everything.at("unloaded").as_array().empty());
  CHECK(everything.at("kept_leased").at(0).at("model_id") == "a.safetensors");

  // Eviction passes it over: b and c fill the device, d evicts one of them, never a.
  load(*other, "b.safetensors");
  load(*other, "c.safetensors");
  auto evicting = load(*other, "d.safetensors", {{"evict", true}});
  auto evicted = evicted_ids(evicting);
  REQUIRE(evicted.size() == 1);
  CHECK(evicted[0] != "a.safetensors");
  check_accounting(*other, "cpu:0");
  // With a leased and two fresh models, a 8 MiB model cannot fit even after eviction.
  CHECK(error_code_of(call(*other, "post_model_load", {{"model_id", "big.safetensors"}, {"evict", true}})) ==
        "INSUFFICIENT_MEMORY");

  // Released: an unload takes it.
  auto released = data_of(call(*holder, "release", {{"lease_id", lease_id}}));
  CHECK(released.at("model_id") == "a.safetensors");
  CHECK(released.at("device_id") == "cpu:0");
  CHECK(listed(*other, "cpu:0", "a.safetensors").at("leases").as_array().empty());
  CHECK(error_code_of(call(*holder, "release", {{"lease_id", lease_id}})) == "INVALID_REQUEST"); // once only
  auto unloaded = data_of(call(*other, "post_model_unload", {{"model_id", "a.safetensors"}}));
  CHECK(unloaded.at("unloaded") == json::array{"a.safetensors"});
  check_accounting(*other, "cpu:0");
}

TEST_CASE("a lease on a model held already loads nothing, and goes to the device that holds it", "[memory_policy]") {
  policy_server s("cpu:0=3MiB,cpu:1=3MiB");
  auto first = s.connect();
  auto second = s.connect();
  load(*first, "a.safetensors", {{"device_id", "cpu:1"}});
  // Without a lease a second load of it stays an error, as clients expect.
  CHECK(error_code_of(call(*second, "post_model_load", {{"model_id", "a.safetensors"}, {"device_id", "cpu:1"}})) ==
        "MODEL_ALREADY_LOADED");
  auto leased = load(*second, "a.safetensors", {{"lease", true}});
  CHECK(leased.at("already_loaded") == true);
  CHECK(leased.at("device_id") == "cpu:1");
  CHECK(leased.at("load_time_ms").to_number<double>() == 0);
  CHECK(leased.at("memory_used_bytes") == 1048576);
  CHECK(listed(*first, "cpu:1", "a.safetensors").at("leases").as_array().size() == 1);
  CHECK(listed(*first, "cpu:0", "a.safetensors").is_null()); // no second copy
  check_accounting(*first, "cpu:1");
}

TEST_CASE("a forced unload revokes leases and tells their holders", "[memory_policy]") {
  policy_server s("cpu:0=3MiB");
  auto holder = s.connect();
  auto operator_client = s.connect();
  auto lease_id = std::string{load(*holder, "a.safetensors", {{"lease", true}}).at("lease_id").as_string()};
  auto forced = data_of(call(*operator_client, "post_model_unload", {{"model_id", "a.safetensors"}, {"force", true}}));
  CHECK(forced.at("unloaded") == json::array{"a.safetensors"});
  CHECK(forced.at("revoked_leases").at(0).at("lease_id") == lease_id.c_str());
  auto event = holder->read_json(std::chrono::seconds(5));
  CHECK(event.at("event") == "lease_revoked");
  CHECK(event.at("lease_id") == lease_id.c_str());
  CHECK(event.at("model_id") == "a.safetensors");
  CHECK(event.at("device_id") == "cpu:0");
  CHECK(error_code_of(call(*holder, "release", {{"lease_id", lease_id}})) == "INVALID_REQUEST");
  check_accounting(*holder, "cpu:0");
}

TEST_CASE("a connection that closes gives its leases back", "[memory_policy]") {
  policy_server s("cpu:0=3MiB");
  auto watcher = s.connect();
  {
    auto holder = s.connect();
    load(*holder, "a.safetensors", {{"lease", true}});
    load(*holder, "b.safetensors", {{"lease", true}});
    CHECK(listed(*watcher, "cpu:0", "b.safetensors").at("leases").as_array().size() == 1);
  } // closed here
  CHECK(eventually([&] {
    return listed(*watcher, "cpu:0", "a.safetensors").at("leases").as_array().empty() &&
           listed(*watcher, "cpu:0", "b.safetensors").at("leases").as_array().empty();
  }));
  // Nothing holds them now: a plain unload takes both.
  auto unloaded = data_of(call(*watcher, "post_model_unload", {{"device_id", "cpu:0"}}));
  CHECK(unloaded.at("unloaded").as_array().size() == 2);
}

TEST_CASE("keep-alive unloads an idle model; a use starts it again; a lease or -1 keeps it", "[memory_policy]") {
  // Margins for slow runs (sanitizers): a's keep-alive is 5 times the pause before its reuse.
  policy_server s("cpu:0=4MiB", {"--default-keep-alive-ms", "2000"});
  auto client = s.connect();
  load(*client, "a.safetensors");                               // the server's default: 2000 ms
  load(*client, "b.safetensors", {{"keep_alive_ms", -1}});      // kept
  load(*client, "c.safetensors", {{"keep_alive_ms", 300}});     // its own
  auto lease = load(*client, "d.safetensors", {{"keep_alive_ms", 300}, {"lease", true}});
  auto a = listed(*client, "cpu:0", "a.safetensors");
  CHECK(a.at("keep_alive_ms") == 2000);
  CHECK(a.at("expires_at").to_number<std::int64_t>() == a.at("last_used_ms").to_number<std::int64_t>() + 2000);
  CHECK(listed(*client, "cpu:0", "b.safetensors").at("expires_at").is_null());
  CHECK(listed(*client, "cpu:0", "d.safetensors").at("expires_at").is_null()); // leased

  // A load hit is a use: a's keep-alive starts again.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(error_code_of(call(*client, "post_model_load", {{"model_id", "a.safetensors"}})) == "MODEL_ALREADY_LOADED");
  auto used = listed(*client, "cpu:0", "a.safetensors");
  CHECK(used.at("last_used_ms").to_number<std::int64_t>() > a.at("last_used_ms").to_number<std::int64_t>());

  REQUIRE(eventually([&] { return listed(*client, "cpu:0", "c.safetensors").is_null(); }));
  CHECK(listed(*client, "cpu:0", "a.safetensors").is_object()); // used again 400 ms in: not yet
  REQUIRE(eventually([&] { return listed(*client, "cpu:0", "a.safetensors").is_null(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  CHECK(listed(*client, "cpu:0", "b.safetensors").is_object());
  CHECK(listed(*client, "cpu:0", "d.safetensors").is_object());
  // Released, d's keep-alive counts from the release.
  data_of(call(*client, "release", {{"lease_id", lease.at("lease_id")}}));
  CHECK(listed(*client, "cpu:0", "d.safetensors").at("expires_at").is_number());
  REQUIRE(eventually([&] { return listed(*client, "cpu:0", "d.safetensors").is_null(); }));
  auto status = device(*client, "cpu:0");
  CHECK(status.at("statistics").at("expirations") == 3);
  CHECK(status.at("statistics").at("unloads") == 0);
  check_accounting(*client, "cpu:0");
}

TEST_CASE("eviction never takes a pinned model and takes lower priorities first", "[memory_policy]") {
  policy_server s("cpu:0=3MiB");
  auto client = s.connect();
  load(*client, "a.safetensors", {{"pinned", true}});
  load(*client, "b.safetensors", {{"priority", "high"}});
  load(*client, "c.safetensors", {{"priority", "low"}});
  CHECK(listed(*client, "cpu:0", "a.safetensors").at("pinned") == true);
  CHECK(listed(*client, "cpu:0", "c.safetensors").at("priority") == "low");
  auto first = load(*client, "d.safetensors", {{"evict", true}});
  CHECK(evicted_ids(first) == std::vector<std::string>{"c.safetensors"});
  CHECK(first.at("eviction").at("models").at(0).at("priority") == "low");
  // Left: a (pinned), b (high), d (normal): d goes before b.
  auto second = load(*client, "c.safetensors", {{"evict", true}});
  CHECK(evicted_ids(second) == std::vector<std::string>{"d.safetensors"});
  // Left: a (pinned), b (high), c (normal): 8 MiB would need a too, which is never taken.
  CHECK(error_code_of(call(*client, "post_model_load", {{"model_id", "big.safetensors"}, {"evict", true}})) ==
        "INSUFFICIENT_MEMORY");
  CHECK(listed(*client, "cpu:0", "a.safetensors").is_object());
  check_accounting(*client, "cpu:0");
}

TEST_CASE("cost-aware eviction takes the model cheapest to bring back; lru the oldest", "[memory_policy]") {
  // 10 MiB, full: big (8 MiB, loaded first, so the least recently used), a and b (1 MiB each);
  // d needs 1 MiB.
  for (std::string rule : {"cost", "lru"}) {
    INFO("--eviction-policy " << rule);
    policy_server s("cpu:0=10MiB", {"--eviction-policy", rule});
    auto client = s.connect();
    load(*client, "big.safetensors");
    load(*client, "a.safetensors");
    load(*client, "b.safetensors");
    auto loaded = load(*client, "d.safetensors", {{"evict", true}});
    auto& eviction = loaded.at("eviction");
    CHECK(eviction.at("policy") == rule.c_str());
    auto& chosen = eviction.at("models").at(0);
    CHECK(chosen.at("reload_ms").to_number<double>() > 0); // measured by its load
    CHECK(chosen.at("bytes").to_number<std::int64_t>() > 0);
    // cost: a or b, each a fraction of big's reload; lru: big, the oldest.
    if (rule == "cost")
      CHECK(evicted_ids(loaded) != std::vector<std::string>{"big.safetensors"});
    else
      CHECK(evicted_ids(loaded) == std::vector<std::string>{"big.safetensors"});
    check_accounting(*client, "cpu:0");
  }
}

TEST_CASE("--auto-evict makes room by default; evict: false still refuses", "[memory_policy]") {
  policy_server s("cpu:0=2MiB", {"--auto-evict"});
  auto client = s.connect();
  load(*client, "a.safetensors");
  load(*client, "b.safetensors");
  auto refused = call(*client, "post_model_load", {{"model_id", "c.safetensors"}, {"evict", false}});
  CHECK(error_code_of(refused) == "INSUFFICIENT_MEMORY");
  auto loaded = load(*client, "c.safetensors");
  CHECK(evicted_ids(loaded).size() == 1);
  check_accounting(*client, "cpu:0");
}

TEST_CASE("memory policy fields are checked", "[memory_policy]") {
  policy_server s("cpu:0=2MiB");
  auto client = s.connect();
  for (auto& [field, value] : std::vector<std::pair<std::string, json::value>>{
         {"lease", "yes"}, {"pinned", 1}, {"priority", "urgent"}, {"keep_alive_ms", -2}, {"keep_alive_ms", "1s"},
         {"evict", "true"}}) {
    INFO(field << " = " << json::serialize(value));
    auto answer = call(*client, "post_model_load", {{"model_id", "a.safetensors"}, {field, value}});
    CHECK(error_code_of(answer) == "INVALID_REQUEST");
    CHECK(answer.at("error").at("details").at("field") == field.c_str());
  }
  CHECK(error_code_of(call(*client, "post_model_unload", {{"force", "yes"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(call(*client, "release", {})) == "INVALID_REQUEST");
  CHECK(device(*client, "cpu:0").at("loaded_models").as_array().empty());
}

TEST_CASE("the RAM cache makes room by the same rule: cost keeps an entry used often, lru the recent", "[memory_policy]") {
  for (std::string rule : {"cost", "lru"}) {
    INFO("--eviction-policy " << rule);
    policy_server s("cpu:0=3MiB", {"--cache-size", "3100KiB", "--eviction-policy", rule}); // three files fit
    auto client = s.connect();
    auto cache = [&](const char* id) { return data_of(call(*client, "post_model_cache", {{"model_id", id}})); };
    for (int i = 0; i < 5; ++i) // a: read once, then served four times
      cache("a.safetensors");
    cache("b.safetensors");
    cache("c.safetensors");
    CHECK(cache("d.safetensors").at("cached") == true);
    std::vector<std::string> held;
    auto listing = data_of(call(*client, "get_model_cache"));
    for (auto& entry : listing.at("entries").as_array())
      held.emplace_back(entry.at("model_id").as_string());
    std::sort(held.begin(), held.end());
    // cost: a, used five times, stays, and one of b and c (each used once, their timed reads
    // alike) goes; lru: a, the least recently used, goes.
    REQUIRE(held.size() == 3);
    if (rule == "cost") {
      CHECK(held.front() == "a.safetensors");
      CHECK(held.back() == "d.safetensors");
    } else {
      CHECK(held == std::vector<std::string>{"b.safetensors", "c.safetensors", "d.safetensors"});
    }
  }
}

TEST_CASE("a model's metadata sets its default pinning and priority; a load's own fields win", "[memory_policy]") {
  policy_server s("cpu:0=3MiB");
  auto client = s.connect();
  auto written = data_of(call(*client, "put_model_metadata",
                              {{"model_id", "a.safetensors"}, {"metadata", {{"pinned", true}, {"priority", "Low"}}}}));
  CHECK(written.at("pinned") == true);
  CHECK(written.at("priority") == "low");
  CHECK(data_of(call(*client, "get_model_metadata", {{"model_id", "a.safetensors"}})).at("priority") == "low");
  CHECK(data_of(call(*client, "get_model_metadata", {{"model_id", "b.safetensors"}})).at("pinned").is_null());
  load(*client, "a.safetensors");
  auto a = listed(*client, "cpu:0", "a.safetensors");
  CHECK(a.at("pinned") == true);
  CHECK(a.at("priority") == "low");
  load(*client, "b.safetensors", {{"priority", "high"}});
  data_of(call(*client, "put_model_metadata", {{"model_id", "c.safetensors"}, {"metadata", {{"pinned", true}}}}));
  load(*client, "c.safetensors", {{"pinned", false}});
  CHECK(listed(*client, "cpu:0", "c.safetensors").at("pinned") == false);
  // Full: d evicts c (normal, not pinned by its load), not a (pinned by its metadata).
  auto loaded = load(*client, "d.safetensors", {{"evict", true}});
  CHECK(evicted_ids(loaded) == std::vector<std::string>{"c.safetensors"});
  CHECK(error_code_of(call(*client, "put_model_metadata",
                           {{"model_id", "a.safetensors"}, {"metadata", {{"priority", "urgent"}}}})) == "INVALID_REQUEST");
}

TEST_CASE("one connection holds at most 1024 leases", "[memory_policy]") {
  policy_server s("cpu:0=2MiB");
  auto client = s.connect();
  for (int i = 0; i < 1024; ++i)
    REQUIRE(call(*client, "post_model_load", {{"model_id", "a.safetensors"}, {"lease", true}}).at("success") == true);
  auto refused = call(*client, "post_model_load", {{"model_id", "a.safetensors"}, {"lease", true}});
  CHECK(error_code_of(refused) == "OVERLOADED");
  CHECK(listed(*client, "cpu:0", "a.safetensors").at("leases").as_array().size() == 1024);
  // A plain load hit still answers as before.
  CHECK(error_code_of(call(*client, "post_model_load", {{"model_id", "a.safetensors"}})) == "MODEL_ALREADY_LOADED");
}
