// modelctl's changing subcommands against a real modeld: loads, unloads, the RAM cache,
// benchmarks, metadata writes and faults, each checked against what modeld then reports.
#include "modelctl_runner.hpp"

#include "tests/integration/load_server.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <memory>

using namespace modeld::test;
namespace json = boost::json;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";
const std::string vae = "vae/demo-vae.safetensors";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("modelctl load and unload, with the accounting modeld reports", "[ctl]") {
  load_server s("cpu:0=64MiB,cpu:1=64MiB");
  auto port = s.server->port();
  auto expected = s.tensor_bytes(sd15);

  auto loaded = json_of(modelctl(port, {"load", sd15, "--device", "cpu:1", "--json"}));
  CHECK(loaded.at("model_id") == sd15.c_str());
  CHECK(loaded.at("device_id") == "cpu:1");
  CHECK(loaded.at("memory_used_bytes") == expected);
  CHECK(s.device("cpu:1").at("memory").at("used") == expected);
  CHECK(s.device("cpu:1").at("loaded_models").at(0).at("model_id") == sd15.c_str());

  auto twice = modelctl(port, {"load", sd15, "--device", "cpu:1"});
  CHECK(twice.exit_code == 1);
  CHECK(contains(twice.err, "modelctl: MODEL_ALREADY_LOADED: "));

  auto devices = modelctl(port, {"devices"});
  INFO(devices.out);
  CHECK(contains(devices.out, "cpu:1   ready"));
  CHECK(contains(devices.out, "64MiB"));
  CHECK(contains(devices.out, sd15 + "\n"));
  auto status = modelctl(port, {"status"});
  CHECK(contains(status.out, "LOADED MODEL"));
  CHECK(contains(status.out, sd15 + "  cpu:1"));
  CHECK(json_of(modelctl(port, {"models", "--loaded", "--json"})).at("total") == 1);

  auto unloaded = json_of(modelctl(port, {"unload", sd15, "--json"}));
  CHECK(unloaded.at("unloaded") == json::array{sd15.c_str()});
  CHECK(unloaded.at("freed_bytes") == expected);
  CHECK(s.device("cpu:1").at("memory").at("used") == 0);
  CHECK(modelctl(port, {"unload", sd15}).exit_code == 1); // MODEL_NOT_LOADED

  // Human output: the second load comes from the RAM cache the first one filled.
  auto again = modelctl(port, {"load", sd15, "--device", "cpu:0", "--dtype", "FP32", "--components", "vae,unet"});
  CHECK(again.exit_code == 0);
  INFO(again.out);
  CHECK(contains(again.out, "loaded " + sd15 + " on cpu:0 in "));
  CHECK(field_of(again.out, "dtype") == "fp32");
  CHECK(field_of(again.out, "components") == "vae, unet");
  auto on_device = s.device("cpu:0");
  CHECK(on_device.at("memory").at("used") == 2 * (s.tensor_bytes(sd15, "vae") + s.tensor_bytes(sd15, "unet")));
  auto freed = modelctl(port, {"unload", "--device", "cpu:0"});
  CHECK(freed.exit_code == 0);
  CHECK(contains(freed.out, "cpu:0: unloaded " + sd15));
  CHECK(s.device("cpu:0").at("memory").at("used") == 0);

  CHECK(modelctl(port, {"load", "no/such.safetensors"}).exit_code == 1);
  CHECK(modelctl(port, {"load", sd15, "--dtype", "int4"}).exit_code == 2);
  CHECK(modelctl(port, {"unload"}).exit_code == 2); // everything everywhere only with --all
  CHECK(json_of(modelctl(port, {"unload", "--all", "--json"})).at("unloaded").as_array().empty());
}

TEST_CASE("modelctl load's keeping flags, unload --force and release", "[ctl]") {
  load_server s("cpu:0=64MiB");
  auto port = s.server->port();
  auto loaded = modelctl(port, {"load", vae, "--keep-alive-ms", "600000", "--pin", "--priority", "HIGH"});
  REQUIRE(loaded.exit_code == 0);
  auto held = s.device("cpu:0").at("loaded_models").at(0);
  CHECK(held.at("keep_alive_ms") == 600000);
  CHECK(held.at("pinned") == true);
  CHECK(held.at("priority") == "high");
  CHECK(modelctl(port, {"load", vae, "--priority", "urgent"}).exit_code == 2);

  // A lease held by another connection: unload refuses, release gives it back.
  auto holder = std::make_unique<line_client>(port);
  auto lease = data_of(holder->call(json::object{
    {"command", "post_model_load"}, {"data", {{"model_id", sd15}, {"lease", true}, {"device_id", "cpu:0"}}}}));
  auto lease_id = std::string{lease.at("lease_id").as_string()};
  auto refused = modelctl(port, {"unload", sd15});
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.err, "CONFLICT"));
  auto released = modelctl(port, {"release", lease_id});
  CHECK(released.exit_code == 0);
  CHECK(contains(released.out, "released " + lease_id + " on " + sd15));
  CHECK(modelctl(port, {"release", lease_id}).exit_code == 1); // held no more

  // And --force takes a leased model, naming the lease it revoked.
  auto again = data_of(holder->call(json::object{
    {"command", "post_model_load"}, {"data", {{"model_id", sd15}, {"lease", true}, {"device_id", "cpu:0"}}}}));
  auto forced = modelctl(port, {"unload", sd15, "--force"});
  CHECK(forced.exit_code == 0);
  INFO(forced.out);
  CHECK(contains(forced.out, "revoked lease: " + sd15 + " on cpu:0, " + std::string{again.at("lease_id").as_string()}));
}

TEST_CASE("modelctl cache ls, add and rm", "[ctl]") {
  load_server s("cpu:0=64MiB");
  auto port = s.server->port();

  auto empty = json_of(modelctl(port, {"cache", "ls", "--json"}));
  CHECK(empty == data_of(s.call("get_model_cache", {})));
  CHECK(empty.at("entries").as_array().empty());
  CHECK(contains(modelctl(port, {"cache", "ls"}).out, "no entries\n"));

  auto added = json_of(modelctl(port, {"cache", "add", vae, "--json"}));
  CHECK(added.at("cached") == true);
  CHECK(added.at("from_cache") == false);
  CHECK(added.at("bytes") == std::filesystem::file_size(s.models.path + "/" + vae));
  auto listed = json_of(modelctl(port, {"cache", "ls", "--json"}));
  REQUIRE(listed.at("entries").as_array().size() == 1);
  CHECK(listed.at("entries").at(0).at("model_id") == vae.c_str());
  CHECK(listed.at("used_bytes") == added.at("bytes"));
  auto table = modelctl(port, {"cache", "ls"});
  INFO(table.out);
  CHECK(contains(table.out, "MODEL"));
  CHECK(contains(table.out, vae + "  "));
  CHECK(contains(table.out, "(shared components save 0B)")); // a VAE file is one component: never split
  CHECK(contains(modelctl(port, {"cache", "add", vae}).out, vae + " (122.19KiB): already in the cache\n"));

  CHECK(modelctl(port, {"cache", "rm"}).exit_code == 2); // evicting everything only with --all
  auto removed = json_of(modelctl(port, {"cache", "rm", vae, "--json"}));
  CHECK(removed.at("evicted") == json::array{vae.c_str()});
  CHECK(data_of(s.call("get_model_cache", {})).at("entries").as_array().empty());
  CHECK(modelctl(port, {"cache", "rm", "--all"}).out == "nothing was cached\n");
  CHECK(modelctl(port, {"cache"}).exit_code == 2);
}

TEST_CASE("modelctl bench and results", "[ctl]") {
  load_server s("cpu:0=64MiB");
  auto port = s.server->port();
  const std::string lora = "loras/demo-style-lora.safetensors"; // 2-D weights to multiply

  auto measured = json_of(modelctl(port, {"bench", lora, "--iterations", "2", "--warmup", "0", "--json"}));
  CHECK(measured.at("model_id") == lora.c_str());
  CHECK(measured.at("device_id") == "cpu:0");
  CHECK(measured.at("metrics").at("iterations") == 2);
  CHECK(measured.at("metrics").at("inference_time_ms").at("median").to_number<double>() > 0);
  auto stored = json_of(modelctl(port, {"results", lora, "--json"}));
  REQUIRE(stored.at("results").as_array().size() == 1);
  CHECK(stored.at("results").at(0) == measured);

  auto human = modelctl(port, {"bench", lora, "--iterations", "2", "--warmup", "0"});
  CHECK(human.exit_code == 0);
  INFO(human.out);
  CHECK(contains(human.out, "benchmark of " + lora + " on cpu:0 (virtual CPU device)\n"));
  CHECK(field_of(human.out, "load").rfind("disk to host ", 0) == 0);
  CHECK(field_of(human.out, "inference").rfind("weight_matmul: median ", 0) == 0);
  CHECK(contains(human.out, "/s over 2 runs\n"));
  auto load_only = modelctl(port, {"bench", lora, "--type", "load"});
  CHECK(load_only.exit_code == 0);
  CHECK_FALSE(contains(load_only.out, "inference:"));
  auto nothing_to_run = modelctl(port, {"bench", "vae/demo-vae.safetensors"});
  CHECK(nothing_to_run.exit_code == 1);
  CHECK(contains(nothing_to_run.err, "modelctl: INVALID_REQUEST: "));
  auto table = modelctl(port, {"results", lora});
  INFO(table.out);
  CHECK(contains(table.out, "MEASURED"));
  CHECK(contains(table.out, "MEDIAN"));
  CHECK(std::count(table.out.begin(), table.out.end(), '\n') == 4); // the header and three runs
  CHECK(modelctl(port, {"bench", lora, "--type", "warp"}).exit_code == 2);
}

TEST_CASE("modelctl meta set writes metadata; a stale revision is a CONFLICT", "[ctl]") {
  load_server s("cpu:0=64MiB");
  auto port = s.server->port();

  auto written = json_of(modelctl(port, {"meta", "set", sd15, "--tag", "Portrait", "--tag", "  studio   light ", "--set",
                                         "author=Ann", "--set", R"(custom={"steps":30})", "--expected-revision", "0",
                                         "--json"}));
  CHECK(written.at("revision") == 1);
  CHECK(written.at("tags") == json::array{"Portrait", "studio light"});
  CHECK(written.at("author") == "Ann");
  CHECK(written.at("custom") == json::object{{"steps", 30}});
  CHECK(data_of(s.call("get_model_metadata", {{"model_id", sd15}})) == written);

  auto stale = modelctl(port, {"meta", "set", sd15, "--set", "author=Bob", "--expected-revision", "0"});
  CHECK(stale.exit_code == 1);
  CHECK(contains(stale.err, "modelctl: CONFLICT: "));
  CHECK(contains(stale.err, R"("current_revision":1)"));

  auto human = modelctl(port, {"meta", "set", sd15, "--no-tags", "--set", "author="});
  CHECK(human.exit_code == 0);
  INFO(human.out);
  CHECK(field_of(human.out, "tags") == "-");
  CHECK(field_of(human.out, "author").empty());
  CHECK(field_of(human.out, "revision") == "2");

  for (auto bad : std::vector<std::vector<std::string>>{{"meta", "set", sd15},
                                                         {"meta", "set", sd15, "--set", "colour=blue"},
                                                         {"meta", "set", sd15, "--set", "custom=[1]"},
                                                         {"meta", "set", sd15, "--set", "=x"},
                                                         {"meta", "set", sd15, "--tag", "a", "--no-tags"}}) {
    auto refused = modelctl(port, bad);
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.err, "modelctl: "));
  }
  CHECK(data_of(s.call("get_model_metadata", {{"model_id", sd15}})).at("revision") == 2);
}

TEST_CASE("modelctl fault injects through modeld's inject_fault", "[ctl]") {
  load_server s("cpu:0=64MiB", {"--enable-fault-injection"});
  auto port = s.server->port();
  auto injected = json_of(modelctl(port, {"fault", "device:cpu:0", "slow", "--duration-ms", "200", "--json"}));
  CHECK(injected == json::object{{"target", "device:cpu:0"}, {"mode", "slow"}, {"duration_ms", 200}, {"injected", true}});
  CHECK(modelctl(port, {"fault", "cache", "Hang", "--duration-ms", "100"}).out == "injected hang on cache for 100 ms\n");
  CHECK(modelctl(port, {"fault", "cache", "oom"}).exit_code == 1); // oom is a device fault
  CHECK(modelctl(port, {"fault", "device:cpu:0", "melt"}).exit_code == 2);
}

TEST_CASE("modelctl load says what a load shared, and devices the bytes shared", "[ctl]") {
  load_server s("cpu:0=64MiB");
  auto port = s.server->port();
  std::filesystem::copy_file(s.models.path + "/" + sd15, s.models.path + "/checkpoints/copy.safetensors");
  REQUIRE(modelctl(port, {"scan"}).exit_code == 0);
  REQUIRE(modelctl(port, {"load", sd15}).exit_code == 0);

  // The copy's VAE and text encoder are the same bytes: held once; its unet is its own.
  auto copy = modelctl(port, {"load", "checkpoints/copy.safetensors"});
  INFO(copy.out);
  REQUIRE(copy.exit_code == 0);
  CHECK(contains(field_of(copy.out, "shared"), "text_encoder, vae ("));
  auto shared = s.tensor_bytes(sd15, "vae") + s.tensor_bytes(sd15, "text_encoder");
  auto device = s.device("cpu:0");
  CHECK(device.at("memory").at("shared_saved") == shared);
  CHECK(device.at("memory").at("used") == 2 * s.tensor_bytes(sd15) - shared);
  auto devices = json_of(modelctl(port, {"devices", "--json"}));
  CHECK(devices.at("devices").at(0).at("memory").at("shared_saved") == shared);
}
