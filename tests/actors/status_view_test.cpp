#include "actors/epoch.hpp"
#include "actors/status_view.hpp"
#include "actors/supervisor.hpp"
#include "test_system.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

using namespace modeld::actors;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds deadline{100};

struct fixture : modeld::test::deterministic_system {
  std::shared_ptr<device_registry> registry = std::make_shared<device_registry>(
    std::vector<device_info>{{"cpu:0", "cpu", 0, "virtual CPU device", 1000, 800},
                             {"cpu:1", "cpu", 1, "virtual CPU device", 2000, 2000}},
    deadline);
  worker_pools pools = spawn_worker_pools(system, pool_sizes{1, 1, 1, 1});
  supervisor_actor supervisor = system.spawn(modeld::actors::supervisor, registry, restart_policy{}, pools);
  caf::scoped_actor self{system};

  fixture() { run(); }
  ~fixture() {
    caf::anon_send_exit(supervisor, caf::exit_reason::kill);
    stop_worker_pools(pools);
    run();
  }

  // Status as read `later` from now (the devices' heartbeats are on the test clock, which
  // does not move unless a test moves it).
  cluster_status read(const std::string& device_id, milliseconds later = milliseconds(0)) const {
    return read_status(*registry, device_id, epoch_ms() + later.count());
  }
};

} // namespace

TEST_CASE("every device has published: healthy, with their memory", "[status]") {
  fixture f;
  auto status = f.read("");
  CHECK(status.overall_health == "healthy");
  REQUIRE(status.devices.size() == 2);
  CHECK(status.devices[0].answered);
  CHECK(status.devices[0].state == "ready");
  CHECK(status.devices[0].status.budget_bytes == 800);
  CHECK(status.devices[0].status.free_bytes == 800);
  CHECK(status.devices[0].status_age_ms >= 0);
  CHECK(status.devices[0].status_age_ms < 1000);
  CHECK(status.devices[1].status.total_bytes == 2000);
}

TEST_CASE("a device filter returns only that device", "[status]") {
  fixture f;
  auto status = f.read("cpu:1");
  REQUIRE(status.devices.size() == 1);
  CHECK(status.devices[0].info.id == "cpu:1");
}

TEST_CASE("a restarting device is reported as such, with its counters only", "[status]") {
  fixture f;
  caf::anon_send_exit(f.registry->find("cpu:0")->handle, caf::exit_reason::kill);
  f.run();
  auto status = f.read("");
  CHECK(status.overall_health == "degraded");
  CHECK(status.devices[0].state == "restarting");
  CHECK_FALSE(status.devices[0].answered);
  CHECK_FALSE(status.devices[0].has_last_status);
  CHECK(status.devices[0].status.budget_bytes == 0);
  CHECK(status.devices[1].answered);
}

TEST_CASE("a device not heard from within the deadline is unresponsive with its last report", "[status]") {
  fixture f;
  auto status = f.read("", deadline + milliseconds(50));
  CHECK(status.overall_health == "down");
  for (auto& device : status.devices) {
    CHECK(device.state == "unresponsive");
    CHECK_FALSE(device.answered);
    CHECK(device.has_last_status);
    CHECK(device.status_age_ms >= 150);
    CHECK(device.last_error.find("deadline") != std::string::npos);
  }
  CHECK(status.devices[0].status.budget_bytes == 800);
  // get_device_list reads the same health.
  auto entry = *f.registry->find("cpu:1");
  CHECK(f.registry->health_now(entry, epoch_ms() + 150) == device_health::unresponsive);
  CHECK(f.registry->health_now(entry, epoch_ms()) == device_health::ready);
}

TEST_CASE("the heartbeat keeps a device responsive; a hang makes it unresponsive at once", "[status]") {
  fixture f;
  auto device = f.registry->find("cpu:0")->handle;
  auto heard = [&] { return f.registry->board()->liveness(0).heard_ms; };
  auto before = heard();
  std::this_thread::sleep_for(milliseconds(5));
  f.fire_timeouts(); // the heartbeat
  CHECK(heard() > before);

  f.self->send(device, fault_atom::value, fault_request{"hang", 1000});
  f.run();
  f.self->receive([](ok_atom) {});
  auto during = f.read("cpu:0");
  REQUIRE(during.devices.size() == 1);
  CHECK(during.devices[0].state == "unresponsive"); // it said so before it stopped
  CHECK(during.devices[0].has_last_status);
  CHECK(during.devices[0].status.budget_bytes == 800);
  CHECK(during.devices[0].last_error.find("hang") != std::string::npos);
  auto silent = heard();
  auto other = f.registry->board()->liveness(1).heard_ms;
  std::this_thread::sleep_for(milliseconds(5));
  f.scheduler.advance_time(milliseconds(30)); // a heartbeat comes now, but the device takes no message while it hangs
  f.run();
  CHECK(heard() == silent);
  CHECK(f.registry->board()->liveness(1).heard_ms > other); // while the other one's heartbeat came
  CHECK(f.read("cpu:1").devices[0].state == "ready"); // the other device is not held up
}

TEST_CASE("an old incarnation's heartbeat does not keep its successor alive", "[status]") {
  fixture f;
  auto board = f.registry->board();
  auto old_incarnation = f.registry->find("cpu:0")->handle.address();
  caf::anon_send_exit(f.registry->find("cpu:0")->handle, caf::exit_reason::kill);
  f.run();
  f.fire_timeouts(); // restart after the backoff
  REQUIRE(f.registry->find("cpu:0")->restarts == 1);
  auto heard = board->liveness(0).heard_ms;
  std::this_thread::sleep_for(milliseconds(5));
  board->heard(old_incarnation, "cpu:0");
  CHECK(board->liveness(0).heard_ms == heard);
}

TEST_CASE("no device answering means down", "[status]") {
  CHECK(overall_health({}) == "down");
  device_report unanswered;
  CHECK(overall_health({unanswered}) == "down");
}
