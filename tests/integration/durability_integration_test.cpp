// kill -9 right after acknowledged metadata writes loses nothing (20 rounds, concurrent
// writers), restarting on the same data dir each round.
#include "line_client.hpp"
#include "modeld_process.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
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

} // namespace

TEST_CASE("acknowledged metadata writes survive SIGKILL", "[durability]") {
  temp_dir models, data;
  write_demo_models(models.path);
  const std::vector<std::string> ids{"checkpoints/demo-sd15.safetensors", "loras/demo-style-lora.safetensors",
                                     "vae/demo-vae.safetensors", "llm/tiny-llama.gguf"};
  std::map<std::string, std::string> acknowledged; // model id -> last acknowledged description
  int writes = 0;
  for (int round = 0; round < 20; ++round) {
    modeld_process server({"--model-root", models.path}, data.path);
    {
      // Everything acknowledged before the last kill is there.
      line_client reader(server.port());
      for (auto& [id, description] : acknowledged)
        check_not_older(reader, id, description);
    }
    // Writers keep writing; the kill comes while writes are in flight.
    std::mutex mutex;
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
            if (json::parse(*line).at("success") != true)
              continue;
            std::lock_guard lock{mutex};
            acknowledged[ids[w]] = description;
            ++writes;
          }
        } catch (const std::exception&) {
          // The server died between two writes.
        }
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + 37 * (round % 5)));
    server.stop(SIGKILL);
    for (auto& t : writers)
      t.join();
  }
  CHECK(writes > 20);
  modeld_process server({"--model-root", models.path}, data.path);
  line_client reader(server.port());
  for (auto& [id, description] : acknowledged)
    check_not_older(reader, id, description);
}
