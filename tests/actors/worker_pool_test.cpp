#include "actors/errors.hpp"
#include "actors/worker_pool.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

using namespace modeld::actors;
using namespace std::chrono_literals;

namespace {

// Jobs that block until the test opens the gate.
struct gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> running{0};
  std::atomic<int> most_at_once{0};

  blocking_job job(int answer) {
    return {[this, answer] {
      auto now = ++running;
      for (int seen = most_at_once; now > seen && !most_at_once.compare_exchange_weak(seen, now);) {
      }
      std::unique_lock lock{mutex};
      cv.wait(lock, [this] { return open; });
      --running;
      return caf::make_message(answer);
    }};
  }
  void release() {
    std::lock_guard lock{mutex};
    open = true;
    cv.notify_all();
  }
};

template <class Predicate>
bool eventually(Predicate predicate) {
  for (int i = 0; i < 500; ++i) {
    if (predicate())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

} // namespace

TEST_CASE("a pool runs at most its size at once; the rest wait in order, visible on its gauge", "[pool]") {
  caf::actor_system_config config;
  caf::actor_system system{config};
  auto gauge = std::make_shared<pool_gauge>();
  auto pool = system.spawn(worker_pool, std::size_t{2}, gauge, worker_priority::normal);
  caf::scoped_actor self{system};
  gate g;
  for (int i = 0; i < 5; ++i)
    self->send(pool, run_atom::value, g.job(i));
  CHECK(eventually([&] { return gauge->busy == 2 && gauge->queued == 3; }));
  CHECK(gauge->workers == 2);
  CHECK(g.running == 2);
  g.release();
  std::vector<int> answers;
  for (int i = 0; i < 5; ++i)
    self->receive([&](int answer) { answers.push_back(answer); }, caf::after(5s) >> [] { FAIL("no answer"); });
  CHECK(g.most_at_once == 2);
  CHECK(answers.size() == 5);
  CHECK(eventually([&] { return gauge->busy == 0 && gauge->queued == 0 && gauge->done == 5; }));
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
}

TEST_CASE("a job that throws is answered with an internal error and the worker keeps serving", "[pool]") {
  caf::actor_system_config config;
  modeld::add_errc_category(config);
  caf::actor_system system{config};
  auto gauge = std::make_shared<pool_gauge>();
  auto pool = system.spawn(worker_pool, std::size_t{1}, gauge, worker_priority::normal);
  caf::scoped_actor self{system};
  blocking_job failing{[]() -> caf::message { throw std::runtime_error("disk on fire"); }};
  self->request(pool, 5s, run_atom::value, failing)
    .receive([](int) { FAIL("an answer from a job that threw"); },
             [](caf::error& error) {
               CHECK(modeld::errc_of(error) == modeld::errc::internal);
               CHECK(modeld::message_of(error).find("disk on fire") != std::string::npos);
             });
  blocking_job fine{[] { return caf::make_message(7); }};
  self->request(pool, 5s, run_atom::value, fine)
    .receive([](int answer) { CHECK(answer == 7); }, [](caf::error&) { FAIL("the worker stopped serving"); });
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
}

namespace {

// The nice value of the thread that calls it.
int own_nice() {
  return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
}

int nice_of_a_job_on(caf::actor_system& system, worker_priority priority) {
  auto pool = system.spawn(worker_pool, std::size_t{1}, std::make_shared<pool_gauge>(), priority);
  caf::scoped_actor self{system};
  int nice = -100;
  self->request(pool, 5s, run_atom::value, blocking_job{[] { return caf::make_message(own_nice()); }})
    .receive([&](int answer) { nice = answer; }, [](caf::error&) { FAIL("no answer"); });
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  return nice;
}

} // namespace

TEST_CASE("bulk workers run below the service's priority, benchmark-like ones at it", "[pool]") {
  caf::actor_system_config config;
  caf::actor_system system{config};
  auto service = own_nice();
  CHECK(nice_of_a_job_on(system, worker_priority::normal) == service);
  // Lowering is refused only at the bottom of the range (19), where nothing is below anyway.
  CHECK(nice_of_a_job_on(system, worker_priority::bulk) == std::min(service + 10, 19));
}
