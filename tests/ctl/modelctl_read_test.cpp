// modelctl's reading subcommands against a real modeld over a demo model root: the --json
// output is modeld's own answer, and the human output carries its key facts.
#include "modelctl_runner.hpp"

#include "tests/integration/demo_server.hpp"
#include "tests/integration/json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace modeld::test;
namespace json = boost::json;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> ids_of(const json::value& models) {
  std::vector<std::string> ids;
  for (auto& model : models.as_array())
    ids.emplace_back(model.at("model_id").as_string());
  return ids;
}

} // namespace

TEST_CASE("modelctl ping, status and devices show what modeld has", "[ctl]") {
  demo_server s;
  auto port = s.server->port();

  auto ping = modelctl(port, {"ping"});
  CHECK(ping.exit_code == 0);
  CHECK(contains(ping.out, "modeld at 127.0.0.1:" + std::to_string(port) + " answered in"));
  CHECK(json_of(modelctl(port, {"ping", "--json"})) == json::object{});

  auto status = json_of(modelctl(port, {"--json", "status"}));
  auto truth = data_of(s.call("get_model_status", {}));
  CHECK(status.at("overall_health") == truth.at("overall_health"));
  REQUIRE(status.at("devices").as_array().size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(status.at("devices").at(i).at("device_id") == truth.at("devices").at(i).at("device_id"));
    CHECK(status.at("devices").at(i).at("memory").at("budget") == 1ll << 30);
  }
  CHECK(status.at("services") == truth.at("services"));
  auto one = json_of(modelctl(port, {"status", "--device", "cpu:1", "--json"}));
  REQUIRE(one.at("devices").as_array().size() == 1);
  CHECK(one.at("devices").at(0).at("device_id") == "cpu:1");

  auto human = modelctl(port, {"status"});
  CHECK(human.exit_code == 0);
  INFO(human.out);
  CHECK(contains(human.out, "health: healthy (2 of 2 devices reachable)"));
  CHECK(contains(human.out, "DEVICE  STATE"));
  CHECK(contains(human.out, "cpu:0   ready    0B    1GiB  1GiB      0B         0  -\n"));
  CHECK(contains(human.out, "metadata_store"));
  CHECK(contains(human.out, "cache: 0B of 4GiB"));

  auto devices = json_of(modelctl(port, {"devices", "--json"}));
  auto device_truth = data_of(s.call("get_device_status", {}));
  REQUIRE(devices.at("devices").as_array().size() == 2);
  CHECK(devices.at("devices").at(1).at("state") == device_truth.at("devices").at(1).at("state"));
  CHECK(devices.at("devices").at(1).at("memory").at("free") == device_truth.at("devices").at(1).at("memory").at("free"));
  auto device_table = modelctl(port, {"devices"});
  CHECK(device_table.exit_code == 0);
  CHECK(contains(device_table.out, "DEVICE  STATE  USED  BUDGET  FREE  SHARED  RESTARTS  MODELS\n"));
  CHECK(contains(device_table.out, "cpu:1   ready    0B    1GiB  1GiB      0B         0  -\n"));
  CHECK(modelctl(port, {"devices", "--device", "cuda:7"}).exit_code == 1);
}

TEST_CASE("modelctl models lists, filters, pages and shows the catalog", "[ctl]") {
  demo_server s;
  auto port = s.server->port();

  auto all = json_of(modelctl(port, {"models", "--json"}));
  auto truth = data_of(s.call("get_models", {}));
  CHECK(all.at("total") == truth.at("total"));
  CHECK(ids_of(all.at("models")) == ids_of(truth.at("models")));
  CHECK(all.at("models") == truth.at("models"));

  auto safetensors = json_of(modelctl(port, {"models", "--format", "SafeTensors", "--json"}));
  CHECK(safetensors.at("total") == data_of(s.call("get_models", {{"format", "safetensors"}})).at("total"));
  for (auto& model : safetensors.at("models").as_array())
    CHECK(model.at("format") == "safetensors");
  auto vae = json_of(modelctl(port, {"models", "--type", "vae", "--architecture", "vae", "--json"}));
  CHECK(ids_of(vae.at("models")) == std::vector<std::string>{"vae/demo-vae.safetensors"});
  CHECK(json_of(modelctl(port, {"models", "--loaded", "--json"})).at("total") == 0);
  CHECK(json_of(modelctl(port, {"models", "--not-loaded", "--json"})).at("total") == truth.at("total"));
  CHECK(json_of(modelctl(port, {"models", "--tag", "nothing-has-this", "--json"})).at("total") == 0);

  auto page = json_of(modelctl(port, {"models", "--offset", "1", "--limit", "2", "--json"}));
  CHECK(page.at("offset") == 1);
  CHECK(page.at("limit") == 2);
  REQUIRE(page.at("models").as_array().size() == 2);
  CHECK(page.at("models").at(0).at("model_id") == truth.at("models").at(1).at("model_id"));
  auto total = std::to_string(truth.at("total").to_number<int>());
  CHECK(contains(modelctl(port, {"models", "--offset", "1", "--limit", "2"}).out,
                 "2 of " + total + " models from offset 1 (--offset, --limit)\n"));

  auto table = modelctl(port, {"models"});
  CHECK(table.exit_code == 0);
  INFO(table.out);
  CHECK(contains(table.out, "MODEL"));
  CHECK(contains(table.out, "ARCHITECTURE"));
  CHECK(contains(table.out, total + " models\n"));
  for (auto& model : truth.at("models").as_array())
    CHECK(contains(table.out, std::string{model.at("model_id").as_string()}));

  auto shown = json_of(modelctl(port, {"models", "show", sd15, "--json"}));
  CHECK(shown == data_of(s.call("get_model", {{"model_id", sd15}})));
  auto card = modelctl(port, {"models", "show", sd15});
  CHECK(card.exit_code == 0);
  INFO(card.out);
  CHECK(field_of(card.out, "model") == sd15);
  CHECK(field_of(card.out, "architecture") == "sd1");
  CHECK(field_of(card.out, "format") == "safetensors");
  CHECK(contains(card.out, "COMPONENT"));
  CHECK(contains(card.out, "unet"));
  auto missing = modelctl(port, {"models", "show", "no/such.safetensors"});
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.err, "modelctl: MODEL_NOT_FOUND: model 'no/such.safetensors' is not in the catalog"));
  CHECK(missing.out.empty());
}

TEST_CASE("modelctl validate, scan, meta get and results", "[ctl]") {
  demo_server s;
  auto port = s.server->port();

  auto validated = json_of(modelctl(port, {"validate", sd15, "--level", "comprehensive", "--json"}));
  CHECK(validated.at("is_valid") == true);
  CHECK(validated.at("model_id") == sd15.c_str());
  CHECK(validated.at("validation_details").at("level") == "comprehensive");
  auto sha256 = validated.at("validation_details").at("checksums").at("sha256");
  // The validation recorded the checksum in the catalog, as modeld says it does.
  CHECK(data_of(s.call("get_model", {{"model_id", sd15}})).at("model").at("checksum") == sha256);
  auto again = modelctl(port, {"validate", sd15, "--level", "comprehensive"});
  CHECK(again.exit_code == 0);
  INFO(again.out);
  CHECK(contains(again.out, sd15 + ": valid (safetensors, comprehensive validation, from cache)\n"));
  CHECK(field_of(again.out, "sha256") == sha256.as_string());
  auto by_path = modelctl(port, {"validate", "--path", "vae/demo-vae.safetensors", "--level", "basic"});
  CHECK(by_path.exit_code == 0);
  CHECK(contains(by_path.out, "vae/demo-vae.safetensors: valid (safetensors, basic validation"));
  write_file(s.models.path + "/broken.safetensors", "not a safetensors file at all");
  auto broken = modelctl(port, {"validate", "--path", "broken.safetensors"});
  CHECK(broken.exit_code == 0); // modeld answered; the verdict is in the answer
  CHECK(contains(broken.out, "broken.safetensors: INVALID"));
  CHECK(contains(broken.out, "SEVERITY  CODE"));
  CHECK(contains(broken.out, "error"));
  CHECK(modelctl(port, {"validate", "--path", "/etc/passwd"}).exit_code == 1);

  auto before = data_of(s.call("get_models", {})).at("total").to_number<std::int64_t>();
  write_file(s.models.path + "/extra/copy.safetensors", safetensors_bytes(16));
  auto scanned = json_of(modelctl(port, {"scan", "--json"}));
  CHECK(scanned.at("added") == 2); // the copy, and the broken file listed as invalid
  CHECK(scanned.at("unchanged") == before);
  CHECK(data_of(s.call("get_models", {})).at("total") == before + 2);
  auto rescan = modelctl(port, {"scan"});
  CHECK(rescan.exit_code == 0);
  CHECK(contains(rescan.out, "added 0, updated 0, removed 0, unchanged " + std::to_string(before + 2) + "\n"));
  auto bad_root = modelctl(port, {"scan", "--root", "/tmp"});
  CHECK(bad_root.exit_code == 1);
  CHECK(contains(bad_root.err, "INVALID_REQUEST"));

  auto metadata = json_of(modelctl(port, {"meta", "get", sd15, "--json"}));
  CHECK(metadata == data_of(s.call("get_model_metadata", {{"model_id", sd15}})));
  auto card = modelctl(port, {"meta", "get", sd15});
  CHECK(card.exit_code == 0);
  CHECK(field_of(card.out, "name") == "demo-sd15");
  CHECK(field_of(card.out, "revision") == "0");

  auto results = json_of(modelctl(port, {"results", sd15, "--json"}));
  CHECK(results.at("results").as_array().empty());
  CHECK(modelctl(port, {"results", sd15}).out == "no benchmark results for " + sd15 + "\n");
}
