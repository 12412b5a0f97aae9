// kill -9 in the middle of mixed work (metadata writes, loads, unloads, scans, device
// crashes) loses nothing: 20 rounds, restarting on the same data dir each round. Every
// acknowledged write is there, the catalog lists exactly the files of the root, and nothing
// half loaded is reported loaded.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace modeld::test;
namespace json = boost::json;

namespace {

// "round R write I" -> (R, I); writes of one model are sequential, so a later write has a
// larger pair. The stored description may be newer than the last acknowledged one (a write
// that committed but whose answer the kill cut off), never older.
std::pair<int, int> write_order(std::string_view description) {
  int round = -1, index = -1;
  std::sscanf(std::string{description}.c_str(), "round %d write %d", &round, &index);
  return {round, index};
}

void check_not_older(line_client& reader, const std::string& id, const std::string& acknowledged) {
  auto metadata = reader.call({{"command", "get_model_metadata"}, {"data", {{"model_id", id}}}});
  INFO("model " << id << ": acknowledged '" << acknowledged << "', stored " << json::serialize(metadata));
  REQUIRE(metadata.at("success") == true);
  auto& stored = metadata.at("data").at("description");
  REQUIRE(stored.is_string());
  CHECK(write_order(stored.as_string()) >= write_order(acknowledged));
}

// The catalog lists exactly `files`, and a fresh process holds nothing loaded anywhere.
void check_catalog_and_devices(line_client& reader, const std::set<std::string>& files) {
  auto listing = data_of(reader.call({{"command", "get_models"}, {"data", {{"limit", 1000}}}}));
  std::set<std::string> listed;
  for (auto& model : listing.at("models").as_array()) {
    listed.insert(std::string{model.at("model_id").as_string()});
    CHECK(model.at("loaded") == false);
  }
  CHECK(listed == files);
  auto status = data_of(reader.call({{"command", "get_model_status"}}));
  CHECK(status.at("loaded_models").as_array().empty());
  for (auto& device : status.at("devices").as_array())
    CHECK(device.at("memory").at("used") == 0);
}

// Loads, unloads, scans and device crashes until the server goes away.
void mixed_work(std::uint16_t port, int round, const std::vector<std::string>& ids) {
  try {
    line_client client(port);
    std::mt19937 rng(static_cast<unsigned>(round));
    const std::vector<std::string> dtypes{"auto", "fp16", "fp32"};
    for (int i = 0;; ++i) {
      json::object request;
      switch (rng() % 5) {
        case 0:
        case 1:
          request = {{"command", "post_model_load"},
                     {"data", {{"model_id", ids[rng() % ids.size()]}, {"dtype", dtypes[rng() % dtypes.size()]},
                               {"evict", true}}}};
          break;
        case 2: request = {{"command", "post_model_unload"}, {"data", json::object{}}}; break;
        case 3: request = {{"command", "post_model_scan"}, {"data", json::object{}}}; break;
        default:
          request = {{"command", "inject_fault"},
                     {"data", {{"target", i % 2 ? "device:cpu:0" : "device:cpu:1"}, {"mode", "crash"}}}};
      }
      client.send(request);
      if (!client.read_line(std::chrono::seconds(10)))
        return; // killed
    }
  } catch (const std::exception&) {
    // The server died between two requests.
  }
}

} // namespace

TEST_CASE("acknowledged writes survive SIGKILL during mixed work; the catalog stays whole", "[durability]") {
  temp_dir models, data;
  write_demo_models(models.path);
  const std::vector<std::string> ids{"checkpoints/demo-sd15.safetensors", "loras/demo-style-lora.safetensors",
                                     "vae/demo-vae.safetensors", "llm/tiny-llama.gguf"};
  std::map<std::string, std::string> acknowledged; // model id -> last acknowledged description
  std::set<std::string> files{ids.begin(), ids.end()};
  for (auto& entry : std::filesystem::recursive_directory_iterator(models.path))
    if (entry.is_regular_file())
      files.insert(std::filesystem::relative(entry.path(), models.path).string());
  int writes = 0;
  std::chrono::steady_clock::duration slowest_first_write{};
  const std::vector<std::string> args{"--model-root", models.path, "--enable-fault-injection"};
  for (int round = 0; round < 20; ++round) {
    // A new file each round: the scan at start catalogs it, whatever the last kill cut off.
    const auto added = "rounds/round" + std::to_string(round) + ".safetensors";
    write_file(models.path + "/" + added, safetensors_bytes(256 + static_cast<std::size_t>(round)));
    files.insert(added);
    modeld_process server(args, data.path);
    {
      // Everything acknowledged before the last kill is there; nothing is half loaded.
      line_client reader(server.port());
      for (auto& [id, description] : acknowledged)
        check_not_older(reader, id, description);
      check_catalog_and_devices(reader, files);
    }
    // Writers keep writing; the kill comes while writes are in flight.
    std::mutex mutex;
    std::condition_variable acknowledged_once;
    int writes_this_round = 0;
    std::map<std::string, int> refusals; // error code -> count
    std::vector<std::thread> writers;
    for (std::size_t w = 0; w < ids.size(); ++w)
      writers.emplace_back([&, w] {
        try {
          line_client client(server.port());
          for (int i = 0;; ++i) {
            auto description = "round " + std::to_string(round) + " write " + std::to_string(i);
            client.send({{"command", "put_model_metadata"},
                         {"data", {{"model_id", ids[w]}, {"metadata", {{"description", description}}}}}});
            auto line = client.read_line(std::chrono::seconds(10));
            if (!line)
              return; // killed: this write was never acknowledged
            auto answer = json::parse(*line).as_object();
            std::lock_guard lock{mutex};
            if (answer.at("success") != true) {
              ++refusals[json::serialize(answer.at("error").at("code"))];
              continue;
            }
            acknowledged[ids[w]] = description;
            ++writes;
            ++writes_this_round;
            acknowledged_once.notify_all();
          }
        } catch (const std::exception&) {
          // The server died between two writes.
        }
      });
    writers.emplace_back([&, round] { mixed_work(server.port(), round, ids); });
    // The kill comes once this round's writes are being acknowledged, however slow the start
    // was, and then at a different moment each round.
    bool acknowledging = false;
    auto writing_since = std::chrono::steady_clock::now();
    {
      std::unique_lock lock{mutex};
      acknowledging = acknowledged_once.wait_for(lock, std::chrono::seconds(20), [&] { return writes_this_round > 0; });
    }
    slowest_first_write = std::max(slowest_first_write, std::chrono::steady_clock::now() - writing_since);
    if (acknowledging)
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + 37 * (round % 5)));
    server.stop(SIGKILL);
    for (auto& t : writers)
      t.join();
    for (auto& [code, count] : refusals)
      UNSCOPED_INFO("round " << round << ": " << count << " writes refused with " << code);
    INFO("round " << round << ": no write acknowledged within 20 s of the start");
    REQUIRE(acknowledging);
  }
  auto slowest_ms = std::chrono::duration_cast<std::chrono::milliseconds>(slowest_first_write).count();
  WARN("acknowledged writes in 20 rounds: " << writes << "; the slowest round's first came " << slowest_ms
                                             << " ms after its writers started");
  modeld_process server(args, data.path);
  line_client reader(server.port());
  for (auto& [id, description] : acknowledged)
    check_not_older(reader, id, description);
  check_catalog_and_devices(reader, files);
}
