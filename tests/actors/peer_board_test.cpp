// The devices of joined nodes as a node shows them: renamed NAME/ID, unreachable (with their last
// report) once the node is lost or silent for peer_silence_ms, filtered by id like local ones.
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
  board.heard(0, "b", two_devices(), 1000);
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
  board.heard(0, "b", two_devices(), 1000);
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
  board.heard(0, "b", two_devices(), 5000); // back
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
