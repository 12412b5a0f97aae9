#include "actors/worker_pool.hpp"

#include "actors/errors.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <exception>

#include <sys/resource.h>
#include <unistd.h>

namespace modeld::actors {
namespace {

using pool_pointer = caf::stateful_actor<worker_pool_state>*;

// How far below the service a bulk worker's thread runs: the scheduler gives a runnable
// thread about ten times the CPU of one 10 nice levels below it.
constexpr int bulk_nice_offset = 10;
constexpr int lowest_nice = 19;

// Lowers the calling thread's priority once (Linux keeps a nice value per thread), relative
// to the one it inherited. A worker whose priority cannot be lowered still runs its jobs.
void run_as_bulk_work() {
  thread_local bool lowered = false;
  if (lowered)
    return;
  lowered = true;
  auto thread = static_cast<id_t>(gettid());
  auto inherited = getpriority(PRIO_PROCESS, thread);
  setpriority(PRIO_PROCESS, thread, std::min(inherited + bulk_nice_offset, lowest_nice));
}

// Runs jobs one at a time on its own thread; tells the pool when it is free again.
caf::behavior pool_worker(caf::event_based_actor* self, caf::actor pool, worker_priority priority) {
  return {
    [self, pool, priority](run_atom, blocking_job& job) -> caf::message {
      if (priority == worker_priority::bulk)
        run_as_bulk_work();
      caf::message answer;
      try {
        answer = job.run();
      } catch (const std::exception& e) {
        answer = caf::make_message(make_error(errc::internal, std::string{"a worker's job failed: "} + e.what()));
      }
      self->send(pool, ready_atom::value);
      return answer;
    },
  };
}

void publish(pool_pointer self) {
  auto& state = self->state;
  state.gauge->busy = static_cast<std::uint32_t>(state.busy);
  state.gauge->queued = static_cast<std::uint32_t>(state.queued.size());
}

void dispatch(pool_pointer self) {
  auto& state = self->state;
  while (!state.idle.empty() && !state.queued.empty()) {
    auto worker = std::move(state.idle.back());
    state.idle.pop_back();
    auto next = std::move(state.queued.front());
    state.queued.pop_front();
    ++state.busy;
    next.promise.delegate(worker, run_atom::value, std::move(next.job));
  }
  publish(self);
}

} // namespace

caf::behavior worker_pool(pool_pointer self, std::size_t workers, std::shared_ptr<pool_gauge> gauge,
                          worker_priority priority) {
  self->state.gauge = std::move(gauge);
  self->state.gauge->workers = static_cast<std::uint32_t>(workers);
  for (std::size_t i = 0; i < workers; ++i)
    self->state.idle.push_back(self->spawn<caf::detached + caf::linked>(pool_worker, caf::actor{self}, priority));
  return {
    [self](run_atom, blocking_job& job) {
      auto promise = self->make_response_promise();
      self->state.queued.push_back({promise, std::move(job)});
      dispatch(self);
      return promise;
    },
    [self](ready_atom) {
      auto& state = self->state;
      auto worker = caf::actor_cast<caf::actor>(self->current_sender());
      if (state.busy > 0)
        --state.busy;
      ++state.gauge->done;
      if (worker)
        state.idle.push_back(std::move(worker));
      dispatch(self);
    },
  };
}

worker_pools spawn_worker_pools(caf::actor_system& system, const pool_sizes& sizes) {
  worker_pools pools;
  using enum worker_priority;
  pools.loads = system.spawn(worker_pool, sizes.loads, pools.gauge.loads, bulk);
  pools.reads = system.spawn(worker_pool, sizes.reads, pools.gauge.reads, bulk);
  pools.benchmarks = system.spawn(worker_pool, sizes.benchmarks, pools.gauge.benchmarks, normal);
  pools.frees = system.spawn(worker_pool, sizes.frees, pools.gauge.frees, bulk);
  return pools;
}

void stop_worker_pools(const worker_pools& pools) {
  for (auto* pool : {&pools.loads, &pools.reads, &pools.benchmarks, &pools.frees})
    caf::anon_send_exit(*pool, caf::exit_reason::user_shutdown);
}

} // namespace modeld::actors
