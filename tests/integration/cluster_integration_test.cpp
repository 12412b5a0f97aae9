// Nodes joined through CAF's network layer, over loopback with real modeld processes (each its
// own data dir): a node that joins others shows their devices as NAME/ID in its device list,
// status, and nodes[]; a node that is killed or stops answering is unreachable within 2 s and
// back when it answers again; a wrong node secret keeps a node's devices out; requests to
// another node's device go to it (loads, unloads, benchmarks, with their progress and cancel),
// and so do RAM cache commands that name it; the flags refuse a node exposed beyond loopback
// without a secret.
#include "cluster_helpers.hpp"
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace modeld::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

// A modeld that is node `name`, listening for nodes on `node_port` (0: any).
struct node_server {
  temp_dir models;
  std::unique_ptr<modeld_process> server;
  std::unique_ptr<line_client> client;

  node_server(const std::string& name, std::vector<std::string> extra = {}, const std::string& data_dir = {}) {
    write_file(models.path + "/" + name + "-model.safetensors", safetensors_bytes(1024));
    extra.insert(extra.begin(), {"--model-root", models.path, "--node-name", name});
    server = std::make_unique<modeld_process>(extra, data_dir);
    client = std::make_unique<line_client>(server->port());
  }
  json::value call(const std::string& command, json::object data = {}) {
    return client->call(json::object{{"command", command}, {"data", std::move(data)}});
  }
  std::string node_address() const { return "127.0.0.1:" + std::to_string(*server->node_port()); }
};

std::vector<std::string> device_ids_of(const json::value& ids) {
  std::vector<std::string> out;
  for (auto& id : ids.as_array())
    out.emplace_back(id.as_string());
  return out;
}

json::object device_of(node_server& s, const std::string& device_id) {
  return data_of(s.call("get_device_status", {{"device_id", device_id}})).at("devices").at(0).as_object();
}

} // namespace

TEST_CASE("a node that joined others shows their devices as NAME/ID beside its own", "[cluster]") {
  node_server b("b", {"--devices", "cpu:0=64MiB,cpu:1=64MiB", "--node-listen", "127.0.0.1:0"});
  node_server c("c", {"--devices", "cpu:0=64MiB", "--node-listen", "127.0.0.1:0"});
  node_server a("a", {"--devices", "cpu:0=64MiB", "--join", b.node_address(), "--join", c.node_address()});
  const std::vector<std::string> all{"cpu:0", "b/cpu:0", "b/cpu:1", "c/cpu:0"};
  REQUIRE(until([&] { return device_ids(data_of(a.call("get_device_list")).at("devices")) == all; }) >= 0ms);

  auto status = data_of(a.call("get_model_status"));
  CHECK(device_ids(status.at("devices")) == all);
  CHECK(status.at("overall_health") == "healthy");
  auto& nodes = status.at("nodes").as_array();
  REQUIRE(nodes.size() == 2);
  CHECK(nodes.at(0).at("name") == "b");
  CHECK(nodes.at(0).at("address") == b.node_address().c_str());
  CHECK(nodes.at(0).at("reachable") == true);
  CHECK(nodes.at(1).at("name") == "c");
  // A node shows only its own devices to those that join it, and none of theirs.
  CHECK(device_ids(data_of(b.call("get_device_list")).at("devices")) == std::vector<std::string>{"cpu:0", "cpu:1"});
  CHECK(data_of(b.call("get_model_status")).at("nodes").as_array().empty());

  // What a node loads shows on the node that joined it, under the device's NAME/ID.
  auto loaded = data_of(b.call("post_model_load", {{"model_id", "b-model.safetensors"}, {"device_id", "cpu:1"}}));
  CHECK(loaded.at("memory_used_bytes") == 4096);
  REQUIRE(until([&] { return !device_of(a, "b/cpu:1").at("loaded_models").as_array().empty(); }) >= 0ms);
  auto remote = device_of(a, "b/cpu:1");
  CHECK(remote.at("loaded_models").at(0).at("model_id") == "b-model.safetensors");
  CHECK(remote.at("memory").at("used") == 4096);

  // A subscription to another node's device pushes it (on a connection of its own, closed after).
  {
    line_client watcher(a.server->port());
    auto subscribed = watcher.call(
      json::object{{"command", "subscribe_status"}, {"data", {{"device_id", "b/cpu:1"}, {"interval_ms", 50}}}});
    REQUIRE(subscribed.at("success") == true);
    auto push = watcher.read_json();
    CHECK(push.at("event") == "status");
    CHECK(device_ids(push.at("data").at("devices")) == std::vector<std::string>{"b/cpu:1"});
  }

  CHECK(error_code_of(a.call("get_device_status", {{"device_id", "d/cpu:0"}})) == "DEVICE_NOT_FOUND");
}

TEST_CASE("loads and unloads of another node's device go to that node", "[cluster]") {
  node_server b("b", {"--devices", "cpu:0=64MiB,cpu:1=64MiB", "--node-listen", "127.0.0.1:0"});
  node_server a("a", {"--devices", "cpu:0=64MiB", "--join", b.node_address()});
  REQUIRE(until([&] { return device_ids(data_of(a.call("get_device_list")).at("devices")).size() == 3; }) >= 0ms);

  // Read from b's own model root, loaded on b's cpu:1, answered with the device as a knows it.
  auto loaded = data_of(a.call("post_model_load", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:1"}}));
  CHECK(loaded.at("device_id") == "b/cpu:1");
  CHECK(loaded.at("memory_used_bytes") == 4096);
  auto on_b = data_of(b.call("get_device_status", {{"device_id", "cpu:1"}})).at("devices").at(0);
  CHECK(on_b.at("loaded_models").at(0).at("model_id") == "b-model.safetensors");
  REQUIRE(until([&] { return !device_of(a, "b/cpu:1").at("loaded_models").as_array().empty(); }) >= 0ms);

  auto again = a.call("post_model_load", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:1"}});
  CHECK(error_code_of(again) == "MODEL_ALREADY_LOADED");
  CHECK(again.at("error").at("details").at("device_id") == "b/cpu:1");
  // A model only a's root has is not on b: b answers for its own roots.
  write_file(a.models.path + "/only-on-a.safetensors", safetensors_bytes(16));
  data_of(a.call("post_model_scan"));
  CHECK(error_code_of(a.call("post_model_load", {{"model_id", "only-on-a.safetensors"}, {"device_id", "b/cpu:0"}})) ==
        "MODEL_NOT_FOUND");

  // A lease on b's device, held by a connection of a: b keeps the model until it is released
  // there, and gives it back when the connection closes.
  auto leases_on_b = [&] {
    auto models = device_of(b, "cpu:0").at("loaded_models").as_array();
    return models.empty() ? std::size_t{0} : models.at(0).at("leases").as_array().size();
  };
  std::string lease_id;
  {
    line_client holder(a.server->port());
    auto leased = data_of(holder.call(json::object{
      {"command", "post_model_load"},
      {"data", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:0"}, {"lease", true}}}}));
    REQUIRE(leased.at("lease_id").is_string());
    lease_id = leased.at("lease_id").as_string();
    CHECK(leases_on_b() == 1);
    auto kept = a.call("post_model_unload", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:0"}});
    CHECK(error_code_of(kept) == "CONFLICT");
    auto released = data_of(holder.call(json::object{{"command", "release"}, {"data", {{"lease_id", lease_id}}}}));
    CHECK(released.at("device_id") == "b/cpu:0");
    CHECK(released.at("model_id") == "b-model.safetensors");
    CHECK(leases_on_b() == 0);
    CHECK(data_of(holder.call(json::object{
                    {"command", "post_model_load"},
                    {"data", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:0"}, {"lease", true}}}}))
            .at("lease_id")
            .is_string());
    CHECK(leases_on_b() == 1);
  } // the holder's connection closes: its lease on b is given back
  CHECK(until([&] { return leases_on_b() == 0; }) >= 0ms);
  {
    // A front end killed while its connection holds a lease on b: b gives it back.
    node_server f("f", {"--devices", "cpu:0=64MiB", "--join", b.node_address()});
    REQUIRE(until([&] { return device_ids(data_of(f.call("get_device_list")).at("devices")).size() == 3; }) >= 0ms);
    CHECK(data_of(f.call("post_model_load", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:0"}, {"lease", true}}))
            .at("lease_id")
            .is_string());
    CHECK(leases_on_b() == 1);
    f.server->stop(SIGKILL);
    CHECK(until([&] { return leases_on_b() == 0; }) >= 0ms);
  }
  data_of(a.call("post_model_unload", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:0"}}));

  auto unloaded = data_of(a.call("post_model_unload", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:1"}}));
  CHECK(unloaded.at("freed_bytes") == 4096);
  CHECK(unloaded.at("devices").at(0).at("device_id") == "b/cpu:1");
  CHECK(data_of(b.call("get_device_status", {{"device_id", "cpu:1"}})).at("devices").at(0).at("loaded_models").as_array().empty());
  CHECK(error_code_of(a.call("post_model_unload", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:1"}})) ==
        "MODEL_NOT_LOADED");

  // A node that is gone fails its devices' requests at once.
  b.server->stop(SIGKILL);
  REQUIRE(until([&] { return device_of(a, "b/cpu:0").at("state") == "unreachable"; }) >= 0ms);
  auto start = std::chrono::steady_clock::now();
  auto gone = a.call("post_model_load", {{"model_id", "b-model.safetensors"}, {"device_id", "b/cpu:0"}});
  CHECK(error_code_of(gone) == "DEVICE_UNAVAILABLE");
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK_THAT(std::string(gone.at("error").at("message").as_string()), Catch::Contains("unreachable"));
}

TEST_CASE("a node that goes away is unreachable within 2 s, and back when it returns", "[cluster]") {
  temp_dir b_data;
  auto b = std::make_unique<node_server>("b", std::vector<std::string>{"--devices", "cpu:0=64MiB", "--node-listen",
                                                                       "127.0.0.1:0"},
                                         b_data.path);
  const auto b_node = b->node_address();
  node_server a("a", {"--devices", "cpu:0=64MiB", "--join", b_node});
  auto state_of_b = [&] { return std::string(device_of(a, "b/cpu:0").at("state").as_string()); };
  REQUIRE(until([&] { return device_ids(data_of(a.call("get_device_list")).at("devices")).size() == 2; }) >= 0ms);
  CHECK(state_of_b() == "ready");

  SECTION("killed, then started again on its port") {
    b->server->stop(SIGKILL);
    auto took = until([&] { return state_of_b() == "unreachable"; });
    INFO("unreachable after " << took.count() << " ms");
    CHECK(took >= 0ms);
    CHECK(took < 2s);
    auto status = data_of(a.call("get_model_status"));
    CHECK(status.at("overall_health") == "degraded");
    CHECK(status.at("nodes").at(0).at("reachable") == false);
    CHECK(device_of(a, "cpu:0").at("state") == "ready"); // its own devices are unaffected

    auto port = b_node.substr(b_node.rfind(':') + 1);
    b = std::make_unique<node_server>("b", std::vector<std::string>{"--devices", "cpu:0=64MiB", "--node-listen",
                                                                     "127.0.0.1:" + port},
                                      b_data.path);
    CHECK(until([&] { return state_of_b() == "ready"; }) >= 0ms);
    CHECK(data_of(a.call("get_model_status")).at("overall_health") == "healthy");
  }
  SECTION("stopped without closing its connection, then going on") {
    REQUIRE(::kill(b->server->pid(), SIGSTOP) == 0);
    auto took = until([&] { return state_of_b() == "unreachable"; });
    ::kill(b->server->pid(), SIGCONT);
    INFO("unreachable after " << took.count() << " ms");
    CHECK(took >= 0ms);
    CHECK(took < 2s);
    CHECK(until([&] { return state_of_b() == "ready"; }) >= 0ms);
  }
}

TEST_CASE("a node answers only nodes that share its secret", "[cluster]") {
  temp_dir secrets;
  write_file(secrets.path + "/right", "s3cret-for-nodes\n");
  write_file(secrets.path + "/wrong", "another-secret\n");
  node_server b("b", {"--devices", "cpu:0=64MiB", "--node-listen", "127.0.0.1:0", "--node-secret-file",
                      secrets.path + "/right"});
  node_server right("a", {"--devices", "cpu:0=64MiB", "--join", b.node_address(), "--node-secret-file",
                          secrets.path + "/right"});
  node_server wrong("w", {"--devices", "cpu:0=64MiB", "--join", b.node_address(), "--node-secret-file",
                          secrets.path + "/wrong"});
  node_server none("n", {"--devices", "cpu:0=64MiB", "--join", b.node_address()});
  CHECK(until([&] { return device_ids(data_of(right.call("get_device_list")).at("devices")).size() == 2; }) >= 0ms);
  for (auto* refused : {&wrong, &none}) {
    REQUIRE(until([&] {
              auto node = data_of(refused->call("get_device_status")).at("nodes").at(0);
              return node.at("last_error").is_string() &&
                     node.at("last_error").as_string().find("secret") != json::string::npos;
            }) >= 0ms);
    CHECK(device_ids(data_of(refused->call("get_device_list")).at("devices")) == std::vector<std::string>{"cpu:0"});
  }
}

TEST_CASE("a node exposed beyond loopback needs a secret; node names are plain", "[cluster]") {
  auto refused = [](std::vector<std::string> args, const std::string& says) {
    args.insert(args.begin(), {"--devices", "cpu:0=64MiB", "--listen", "127.0.0.1:0"});
    auto result = run_modeld(args);
    INFO(result.stderr_text);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.stderr_text, Catch::Contains(says));
  };
  refused({"--node-listen", "0.0.0.0:0"}, "needs --node-secret-file");
  refused({"--join", "10.1.2.3:7400"}, "needs --node-secret-file");
  refused({"--join", "127.0.0.1:0"}, "needs the port");
  refused({"--node-name", "a/b", "--node-listen", "127.0.0.1:0"}, "--node-name 'a/b'");
  refused({"--node-listen", "127.0.0.1:x"}, "--node-listen port 'x'");
}

TEST_CASE("a load that names no device is placed across the nodes, and says why", "[cluster]") {
  // a's device has the more free memory: a load of a model both roots hold goes there.
  node_server b("b", {"--devices", "cpu:0=64MiB", "--node-listen", "127.0.0.1:0"});
  node_server a("a", {"--devices", "cpu:0=256MiB", "--join", b.node_address()});
  write_file(a.models.path + "/both.safetensors", safetensors_bytes(256));
  write_file(b.models.path + "/both.safetensors", safetensors_bytes(256));
  data_of(a.call("post_model_scan"));
  data_of(b.call("post_model_scan"));
  REQUIRE(until([&] { return device_ids(data_of(a.call("get_device_list")).at("devices")).size() == 2; }) >= 0ms);

  auto local = data_of(a.call("post_model_load", {{"model_id", "both.safetensors"}}));
  CHECK(local.at("device_id") == "cpu:0");
  CHECK(local.at("placement").at("device_id") == "cpu:0");
  CHECK_THAT(std::string(local.at("placement").at("reason").as_string()), Catch::Contains("most free memory"));
  data_of(a.call("post_model_unload", {{"model_id", "both.safetensors"}}));

  // A model only b's root holds: this node answers MODEL_NOT_FOUND, and b loads it.
  auto remote = data_of(a.call("post_model_load", {{"model_id", "b-model.safetensors"}}));
  CHECK(remote.at("device_id") == "b/cpu:0");
  CHECK_THAT(std::string(remote.at("placement").at("reason").as_string()), Catch::Contains("this node has no such model"));
  CHECK(error_code_of(a.call("post_model_load", {{"model_id", "nowhere.safetensors"}})) == "MODEL_NOT_FOUND");

  // A model in b's RAM cache (and no longer in a's, which the first load filled) goes to b,
  // though a has more free memory; b tells a what it caches with its status, 4 times a second.
  data_of(a.call("delete_model_cache", {{"model_id", "both.safetensors"}}));
  data_of(b.call("post_model_cache", {{"model_id", "both.safetensors"}}));
  std::this_thread::sleep_for(600ms);
  auto cached = data_of(a.call("post_model_load", {{"model_id", "both.safetensors"}}));
  CHECK(cached.at("device_id") == "b/cpu:0");
  CHECK(cached.at("from_cache") == true);
  CHECK_THAT(std::string(cached.at("placement").at("reason").as_string()), Catch::Contains("node b's RAM cache"));
  // get_model and get_models say where a model is loaded, on every node.
  auto loaded_on = [&] { return device_ids_of(data_of(a.call("get_model", {{"model_id", "both.safetensors"}})).at("model").at("loaded_on")); };
  REQUIRE(until([&] { return loaded_on() == std::vector<std::string>{"b/cpu:0"}; }) >= 0ms);
  auto listed = data_of(a.call("get_models", {{"loaded", true}}));
  REQUIRE(listed.at("models").as_array().size() == 1);
  CHECK(listed.at("models").at(0).at("loaded_on") == json::array{"b/cpu:0"});
  data_of(a.call("post_model_unload", {{"model_id", "both.safetensors"}, {"device_id", "b/cpu:0"}}));
  // A load that names its device says nothing of placement.
  CHECK(data_of(a.call("post_model_load", {{"model_id", "both.safetensors"}, {"device_id", "cpu:0"}})).at("placement").is_null());

  // An unload that names no device unloads the model from every node's devices.
  data_of(a.call("post_model_load", {{"model_id", "both.safetensors"}, {"device_id", "b/cpu:0"}}));
  REQUIRE(until([&] { return loaded_on() == std::vector<std::string>{"cpu:0", "b/cpu:0"}; }) >= 0ms);
  auto everywhere = data_of(a.call("post_model_unload", {{"model_id", "both.safetensors"}}));
  CHECK(device_ids(everywhere.at("devices")) == std::vector<std::string>{"cpu:0", "b/cpu:0"});
  CHECK(everywhere.at("freed_bytes") == 2 * 1024);
  CHECK(error_code_of(a.call("post_model_unload", {{"model_id", "both.safetensors"}})) == "MODEL_NOT_LOADED");
  auto left_on_b = data_of(b.call("get_device_status")).at("devices").at(0).at("loaded_models");
  REQUIRE(left_on_b.as_array().size() == 1); // the model placed there above stays
  CHECK(left_on_b.at(0).at("model_id") == "b-model.safetensors");
}

TEST_CASE("benchmarks and RAM cache commands of another node go to it, with progress and cancel", "[cluster]") {
  node_server b("b", {"--devices", "cpu:0=512MiB", "--node-listen", "127.0.0.1:0"});
  node_server a("a", {"--devices", "cpu:0=64MiB", "--join", b.node_address()});
  write_demo_models(b.models.path); // the script empties the root first
  write_file(b.models.path + "/b-model.safetensors", safetensors_bytes(1024));
  data_of(b.call("post_model_scan"));
  REQUIRE(until([&] { return device_ids(data_of(a.call("get_device_list")).at("devices")).size() == 2; }) >= 0ms);

  // The RAM cache of a node named by `node`: filled, read and emptied there, not here.
  auto filled = data_of(a.call("post_model_cache", {{"model_id", "b-model.safetensors"}, {"node", "b"}}));
  CHECK(filled.at("cached") == true);
  CHECK(filled.at("bytes").to_number<std::int64_t>() > 4096);
  auto cache_ids = [](const json::value& cache) {
    std::vector<std::string> ids;
    for (auto& entry : cache.at("entries").as_array())
      ids.emplace_back(entry.at("model_id").as_string());
    return ids;
  };
  CHECK(cache_ids(data_of(a.call("get_model_cache", {{"node", "b"}}))) == std::vector<std::string>{"b-model.safetensors"});
  CHECK(cache_ids(data_of(b.call("get_model_cache"))) == std::vector<std::string>{"b-model.safetensors"});
  CHECK(cache_ids(data_of(a.call("get_model_cache"))).empty());
  auto evicted = data_of(a.call("delete_model_cache", {{"model_id", "b-model.safetensors"}, {"node", "b"}}));
  CHECK(evicted.at("evicted") == json::array{"b-model.safetensors"});
  CHECK(cache_ids(data_of(b.call("get_model_cache"))).empty());
  auto gone = a.call("delete_model_cache", {{"model_id", "b-model.safetensors"}, {"node", "b"}});
  CHECK(error_code_of(gone) == "MODEL_NOT_FOUND");
  auto nameless = a.call("get_model_cache", {{"node", "zz"}});
  CHECK(error_code_of(nameless) == "INVALID_REQUEST");
  CHECK(nameless.at("error").at("details").at("node") == "zz");

  // A benchmark of b's device, measured there and stored here.
  auto measured = data_of(a.call("post_model_benchmark", {{"model_id", "b-model.safetensors"},
                                                          {"device_id", "b/cpu:0"},
                                                          {"benchmark_type", "load"}}));
  CHECK(measured.at("device_id") == "b/cpu:0");
  CHECK(measured.at("metrics").at("load_time_ms").at("disk_to_host").to_number<double>() >= 0);
  CHECK(error_code_of(a.call("post_model_benchmark", {{"model_id", "nowhere.safetensors"}, {"device_id", "b/cpu:0"}})) ==
        "MODEL_NOT_FOUND");

  // A long benchmark there reports its progress here, and a cancel here stops it there.
  a.client->send({{"request_id", "long"},
                  {"command", "post_model_benchmark"},
                  {"stream", true},
                  {"data",
                   {{"model_id", "checkpoints/demo-sd15.safetensors"},
                    {"device_id", "b/cpu:0"},
                    {"iterations", 10000},
                    {"batch", 512}}}});
  while (true) {
    auto line = a.client->read_json(10s);
    REQUIRE(line.at("request_id") == "long");
    REQUIRE(line.as_object().contains("event")); // progress, until the inference runs
    if (line.at("stage") == "inference")
      break;
  }
  auto cancelled_at = std::chrono::steady_clock::now();
  a.client->send({{"request_id", "c"}, {"command", "cancel"}, {"data", {{"target_request_id", "long"}}}});
  bool cancelled = false;
  for (int lines = 0; lines < 200 && !cancelled; ++lines) {
    auto line = a.client->read_json(2s);
    if (line.at("request_id") == "long" && !line.as_object().contains("event")) {
      CHECK(error_code_of(line) == "CANCELLED");
      cancelled = true;
    }
  }
  CHECK(cancelled);
  CHECK(std::chrono::steady_clock::now() - cancelled_at < 2s);
  // b's worker stopped: its device is ready again with nothing reserved.
  CHECK(until([&] {
          auto device = device_of(b, "cpu:0");
          return device.at("state") == "ready" && device.at("memory").at("used") == 0;
        }, 3s) >= 0ms);
}
