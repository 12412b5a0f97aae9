#include "actors/device.hpp"
#include "test_system.hpp"

#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

using namespace modeld::actors;

namespace {

struct fixture : modeld::test::deterministic_system {
  worker_pools pools = spawn_worker_pools(system, pool_sizes{1, 1, 1, 1});
  device_actor dev = system.spawn(device, device_info{"cpu:0", "cpu", 0, "virtual CPU device", 4096, 1024},
                                  std::make_shared<device_board>(std::vector<std::string>{"cpu:0"}), pools);
  caf::scoped_actor self{system};

  fixture() { run(); }
  ~fixture() {
    caf::anon_send_exit(dev, caf::exit_reason::kill);
    stop_worker_pools(pools);
    run();
  }

  bool status_arrived() {
    bool arrived = false;
    self->receive([&](device_status&) { arrived = true; }, caf::after(std::chrono::seconds(0)) >> [] {});
    return arrived;
  }
  void inject(const std::string& mode, std::uint32_t ms) {
    self->send(dev, fault_atom::value, fault_request{mode, ms});
    run();
    self->receive([](ok_atom) {});
  }
};

} // namespace

TEST_CASE("a device reports its budget and accounting", "[device]") {
  fixture f;
  f.self->send(f.dev, status_atom::value);
  f.run();
  device_status status;
  f.self->receive([&](device_status& s) { status = s; });
  CHECK(status.device_id == "cpu:0");
  CHECK(status.total_bytes == 4096);
  CHECK(status.budget_bytes == 1024);
  CHECK(status.free_bytes == 1024);
  CHECK(status.used_bytes == 0);
}

TEST_CASE("a hung device holds its answers until the hang ends", "[device]") {
  fixture f;
  f.inject("hang", 1000);
  f.self->send(f.dev, status_atom::value);
  f.run();
  CHECK_FALSE(f.status_arrived());
  f.scheduler.advance_time(std::chrono::milliseconds(1000));
  f.run();
  CHECK(f.status_arrived());
}

TEST_CASE("a hung device takes no message at all until the hang ends", "[device]") {
  fixture f;
  f.inject("hang", 1000);
  f.self->send(f.dev, unload_atom::value, unload_order{});
  f.run();
  bool unloaded = false;
  f.self->receive([&](unload_reply&) { unloaded = true; }, caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK_FALSE(unloaded);
  f.scheduler.advance_time(std::chrono::milliseconds(1000));
  f.run();
  f.self->receive([&](unload_reply&) { unloaded = true; }, caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(unloaded);
}

TEST_CASE("a slow device answers after a pause", "[device]") {
  fixture f;
  f.inject("slow", 5000);
  f.self->send(f.dev, status_atom::value);
  f.run();
  CHECK_FALSE(f.status_arrived());
  f.scheduler.advance_time(fault_detail::slow_pause);
  f.run();
  CHECK(f.status_arrived());
}

TEST_CASE("an injected crash stops the device with an error", "[device]") {
  fixture f;
  f.self->monitor(f.dev);
  f.self->send(f.dev, fault_atom::value, fault_request{"crash", 0});
  f.run();
  bool down = false;
  f.self->receive([](ok_atom) {}, caf::after(std::chrono::seconds(0)) >> [] {});
  f.self->receive([&](caf::down_msg& msg) { down = static_cast<bool>(msg.reason); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(down);
}
