#include "actors/status_aggregator.hpp"
#include "actors/supervisor.hpp"
#include "test_system.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

using namespace modeld::actors;

namespace {

// A device that takes status requests and never answers them.
device_actor::behavior_type silent_device(device_actor::pointer self) {
  return {
    [self](status_atom) -> caf::result<device_status> {
      return self->make_response_promise<device_status>();
    },
    [](fault_atom, const fault_request&) { return ok_atom::value; },
    [](load_atom, load_order&) { return load_reply{}; },
    [](unload_atom, const std::string&) { return unload_reply{}; },
    [](drop_atom, std::uint64_t) {},
    [](benchmark_atom, benchmark_order&) { return benchmark_reply{}; },
  };
}

struct fixture : modeld::test::deterministic_system {
  std::shared_ptr<device_registry> registry = std::make_shared<device_registry>(std::vector<device_info>{
    {"cpu:0", "cpu", 0, "virtual CPU device", 1000, 800}, {"cpu:1", "cpu", 1, "virtual CPU device", 2000, 2000}});
  supervisor_actor supervisor = system.spawn(modeld::actors::supervisor, registry, restart_policy{});
  status_aggregator_actor aggregator =
    system.spawn(status_aggregator, registry, caf::timespan{std::chrono::milliseconds(100)}, caf::timespan{});
  caf::scoped_actor self{system};

  fixture() { run(); }
  ~fixture() {
    caf::anon_send_exit(supervisor, caf::exit_reason::kill);
    caf::anon_send_exit(aggregator, caf::exit_reason::kill);
    run();
  }

  cluster_status ask(const std::string& device_id) {
    self->send(aggregator, status_atom::value, device_id);
    run();
    return receive();
  }
  cluster_status receive() {
    cluster_status result;
    self->receive([&](cluster_status& s) { result = std::move(s); },
                  caf::after(std::chrono::seconds(0)) >> [] { FAIL("no answer from the aggregator"); });
    return result;
  }
};

} // namespace

TEST_CASE("all devices answer: healthy, with their memory", "[aggregator]") {
  fixture f;
  auto status = f.ask("");
  CHECK(status.overall_health == "healthy");
  REQUIRE(status.devices.size() == 2);
  CHECK(status.devices[0].answered);
  CHECK(status.devices[0].status.budget_bytes == 800);
  CHECK(status.devices[0].status.free_bytes == 800);
  CHECK(status.devices[1].status.total_bytes == 2000);
}

TEST_CASE("a device filter returns only that device", "[aggregator]") {
  fixture f;
  auto status = f.ask("cpu:1");
  REQUIRE(status.devices.size() == 1);
  CHECK(status.devices[0].info.id == "cpu:1");
}

TEST_CASE("a restarting device is reported without being asked", "[aggregator]") {
  fixture f;
  caf::anon_send_exit(f.registry->find("cpu:0")->handle, caf::exit_reason::kill);
  f.run();
  auto status = f.ask("");
  CHECK(status.overall_health == "degraded");
  CHECK(status.devices[0].state == "restarting");
  CHECK_FALSE(status.devices[0].answered);
  CHECK(status.devices[1].answered);
}

TEST_CASE("a silent device misses its deadline and the answer comes anyway", "[aggregator]") {
  fixture f;
  auto silent = f.system.spawn(silent_device);
  f.registry->set_running("cpu:1", silent, 0);
  f.self->send(f.aggregator, status_atom::value, std::string{});
  f.run();
  f.fire_timeouts();
  auto status = f.receive();
  CHECK(status.overall_health == "degraded");
  CHECK(status.devices[0].answered);
  CHECK_FALSE(status.devices[1].answered);
  CHECK(status.devices[1].state == "unresponsive");
  CHECK(status.devices[1].last_error.find("deadline") != std::string::npos);
  CHECK(f.registry->find("cpu:1")->health == device_health::unresponsive); // get_device_list says so too
  caf::anon_send_exit(silent, caf::exit_reason::kill);
}

TEST_CASE("a hung device is unresponsive with its last report, then ready again", "[aggregator]") {
  fixture f;
  REQUIRE(f.ask("cpu:0").devices[0].answered);
  f.self->send(f.registry->find("cpu:0")->handle, fault_atom::value, fault_request{"hang", 1000});
  f.run();
  f.self->receive([](ok_atom) {});
  f.self->send(f.aggregator, status_atom::value, std::string{"cpu:0"});
  f.run();
  f.scheduler.advance_time(std::chrono::milliseconds(150)); // past the deadline, not the hang
  f.run();
  auto during = f.receive();
  REQUIRE(during.devices.size() == 1);
  CHECK(during.devices[0].state == "unresponsive");
  CHECK(during.devices[0].has_last_status);
  CHECK(during.devices[0].status.budget_bytes == 800);
  CHECK(during.devices[0].status_age_ms >= 0);
  CHECK(f.registry->find("cpu:0")->health == device_health::unresponsive);

  f.scheduler.advance_time(std::chrono::milliseconds(850));
  f.run();
  auto after = f.ask("cpu:0");
  CHECK(after.devices[0].state == "ready");
  CHECK(f.registry->find("cpu:0")->health == device_health::ready);
}

TEST_CASE("no device answering means down", "[aggregator]") {
  CHECK(overall_health({}) == "down");
  device_report unanswered;
  CHECK(overall_health({unanswered}) == "down");
}
