#include "actors/supervisor.hpp"
#include "test_system.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

using namespace modeld::actors;

namespace {

std::vector<device_info> two_devices() {
  return {{"cpu:0", "cpu", 0, "virtual CPU device", 1 << 20, 1 << 20},
          {"cpu:1", "cpu", 1, "virtual CPU device", 2 << 20, 2 << 20}};
}

struct supervised : modeld::test::deterministic_system {
  std::shared_ptr<device_registry> registry = std::make_shared<device_registry>(two_devices());
  worker_pools pools = spawn_worker_pools(system, pool_sizes{1, 1, 1, 1});
  supervisor_actor supervisor = system.spawn(modeld::actors::supervisor, registry, restart_policy{}, pools);

  supervised() { run(); }
  ~supervised() {
    caf::anon_send_exit(supervisor, caf::exit_reason::kill);
    stop_worker_pools(pools);
    run();
  }

  void crash(const std::string& device_id) {
    caf::anon_send_exit(registry->find(device_id)->handle, caf::exit_reason::kill);
    run();
  }
};

} // namespace

TEST_CASE("the supervisor starts one device actor per device and registers it", "[supervisor]") {
  supervised s;
  auto entries = s.registry->snapshot();
  for (auto& entry : *entries) {
    CHECK(entry.health == device_health::ready);
    CHECK(entry.handle);
    CHECK(entry.restarts == 0);
  }
}

TEST_CASE("a crashed device is restarted after its backoff behind the same registry id", "[supervisor]") {
  supervised s;
  auto before = s.registry->find("cpu:1")->handle;
  s.crash("cpu:1");
  auto during = *s.registry->find("cpu:1");
  CHECK(during.health == device_health::restarting);
  CHECK_FALSE(during.handle);
  CHECK_FALSE(during.last_error.empty());
  CHECK(s.registry->find("cpu:0")->health == device_health::ready);

  s.fire_timeouts();
  auto after = *s.registry->find("cpu:1");
  CHECK(after.health == device_health::ready);
  CHECK(after.restarts == 1);
  REQUIRE(after.handle);
  CHECK(after.handle != before);
}

TEST_CASE("past the restart intensity limit a device is marked failed", "[supervisor]") {
  supervised s;
  restart_policy policy;
  for (unsigned i = 0; i < policy.max_restarts; ++i) {
    s.crash("cpu:0");
    REQUIRE(s.registry->find("cpu:0")->health == device_health::restarting);
    s.fire_timeouts();
    REQUIRE(s.registry->find("cpu:0")->health == device_health::ready);
  }
  s.crash("cpu:0");
  auto entry = *s.registry->find("cpu:0");
  CHECK(entry.health == device_health::failed);
  CHECK(entry.last_error.find("restart limit") != std::string::npos);
  CHECK(s.registry->find("cpu:1")->health == device_health::ready);
}

TEST_CASE("shutdown stops every device and answers", "[supervisor]") {
  supervised s;
  caf::scoped_actor self{s.system};
  self->send(s.supervisor, shutdown_atom::value);
  s.run();
  bool answered = false;
  self->receive([&](ok_atom) { answered = true; });
  CHECK(answered);
}

TEST_CASE("restart backoff grows and is capped", "[supervisor]") {
  restart_policy policy;
  std::deque<restart_policy::time_point> crashes;
  auto t = restart_policy::time_point{};
  CHECK(policy.on_crash(crashes, t) == std::chrono::milliseconds(100));
  CHECK(policy.on_crash(crashes, t) == std::chrono::milliseconds(200));
  CHECK(policy.on_crash(crashes, t) == std::chrono::milliseconds(400));
  // Crashes older than the window are forgotten.
  crashes.clear();
  for (int i = 0; i < 10; ++i)
    REQUIRE(policy.on_crash(crashes, t + i * (policy.window + std::chrono::milliseconds(1))));
}
