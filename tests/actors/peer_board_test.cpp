// The devices of joined nodes as a node shows them: renamed NAME/ID, unreachable (with their last
// report) once the node is lost or silent for peer_silence_ms, filtered by id like local ones.
#include "actors/cluster_placement.hpp"
#include "actors/peer_board.hpp"

#include <catch2/catch.hpp>

using namespace modeld::actors;

namespace {

cluster_status two_devices() {
  cluster_status status;
  for (const char* id : {"cpu:0", "cuda:1"}) {
    device_report report;
    report.info.id = id;
    report.state = "ready";
    report.answered = true;
    report.status.device_id = id;
    report.status.used_bytes = 7;
    status.devices.push_back(report);
  }
  status.overall_health = "healthy";
  return status;
}

} // namespace

TEST_CASE("a joined node's devices are NAME/ID while it answers", "[peers]") {
  peer_board board({"127.0.0.1:7400", "127.0.0.1:7401"}, "");
  CHECK(remote_reports(*board.read(), {}, 1000).empty()); // never answered: nothing to show
  board.heard(0, "b", two_devices(), {}, 1000);
  auto reports = remote_reports(*board.read(), {}, 1200);
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].info.id == "b/cpu:0");
  CHECK(reports[1].status.device_id == "b/cuda:1");
  CHECK(reports[0].answered);
  CHECK(reports[0].status_age_ms == 200);
  CHECK(remote_reports(*board.read(), "b/cuda:1", 1200).size() == 1);
  CHECK(remote_reports(*board.read(), "cuda:1", 1200).empty());
  CHECK(knows_device(*board.read(), "b/cpu:0"));
  CHECK_FALSE(knows_device(*board.read(), "b/cpu:9"));
  CHECK_FALSE(knows_device(*board.read(), "cpu:0"));
}

TEST_CASE("a lost or silent node's devices are unreachable with their last report", "[peers]") {
  peer_board board({"127.0.0.1:7400"}, "");
  board.heard(0, "b", two_devices(), {}, 1000);
  SECTION("lost") {
    board.lost(0, "the connection closed");
    auto report = remote_reports(*board.read(), "b/cpu:0", 1100).at(0);
    CHECK(report.state == "unreachable");
    CHECK_FALSE(report.answered);
    CHECK(report.has_last_status);
    CHECK(report.status.used_bytes == 7);
    CHECK_THAT(report.last_error, Catch::Contains("the connection closed") && Catch::Contains("127.0.0.1:7400"));
  }
  SECTION("silent") {
    CHECK(remote_reports(*board.read(), "b/cpu:0", 1000 + peer_silence_ms).at(0).answered);
    auto report = remote_reports(*board.read(), "b/cpu:0", 1001 + peer_silence_ms).at(0);
    CHECK(report.state == "unreachable");
    CHECK_THAT(report.last_error, Catch::Contains("no answer for"));
  }
  board.heard(0, "b", two_devices(), {}, 5000); // back
  CHECK(remote_reports(*board.read(), "b/cpu:0", 5000).at(0).state == "ready");
}

TEST_CASE("remote ids split at their first slash", "[peers]") {
  auto id = split_remote_id("gpu-host-2/cuda:1");
  REQUIRE(id);
  CHECK(id->node == "gpu-host-2");
  CHECK(id->device == "cuda:1");
  CHECK_FALSE(split_remote_id("cuda:1"));
  CHECK_FALSE(split_remote_id("/cuda:1"));
  CHECK_FALSE(split_remote_id("b/"));
}

namespace {

device_report ready_device(const std::string& id, std::uint64_t free_bytes, bool answered = true) {
  device_report report;
  report.info.id = id;
  report.answered = answered;
  report.state = answered ? "ready" : "unreachable";
  report.status.free_bytes = free_bytes;
  return report;
}

std::vector<std::string> ids_of(const std::vector<placement_choice>& choices) {
  std::vector<std::string> ids;
  for (const auto& c : choices)
    ids.push_back(c.device_id);
  return ids;
}

} // namespace

TEST_CASE("placement tries cached nodes first, then where the model fits, then the most free memory", "[placement]") {
  cluster_status status;
  status.devices = {ready_device("cpu:0", 100), ready_device("b/cpu:0", 300), ready_device("c/cpu:0", 200),
                    ready_device("d/cpu:0", 900, false)};
  CHECK(ids_of(placement_order(status, {}, std::nullopt)) == std::vector<std::string>{"b/cpu:0", "c/cpu:0", "cpu:0"});
  // Cached on c: c first, whatever its free memory.
  auto cached = placement_order(status, {"c"}, 150);
  CHECK(ids_of(cached) == std::vector<std::string>{"c/cpu:0", "b/cpu:0", "cpu:0"});
  CHECK_THAT(cached[0].reason, Catch::Contains("node c's RAM cache"));
  CHECK_THAT(cached[1].reason, Catch::Contains("where its 150 bytes fit"));
  CHECK_THAT(cached[2].reason, Catch::Contains("of the ready devices"));
  // This node before another at the same free memory; an unreachable device never.
  status.devices = {ready_device("b/cpu:0", 100), ready_device("cpu:0", 100)};
  CHECK(ids_of(placement_order(status, {}, 50)) == std::vector<std::string>{"cpu:0", "b/cpu:0"});
}
