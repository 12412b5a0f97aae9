#include "actors/worker_pool.hpp"

#include "actors/errors.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <exception>

namespace modeld::actors {
namespace {

using pool_pointer = caf::stateful_actor<worker_pool_state>*;

// Runs jobs one at a time on its own thread; tells the pool when it is free again.
caf::behavior pool_worker(caf::event_based_actor* self, caf::actor pool) {
  return {
    [self, pool](run_atom, blocking_job& job) -> caf::message {
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

caf::behavior worker_pool(pool_pointer self, std::size_t workers, std::shared_ptr<pool_gauge> gauge) {
  self->state.gauge = std::move(gauge);
  self->state.gauge->workers = static_cast<std::uint32_t>(workers);
  for (std::size_t i = 0; i < workers; ++i)
    self->state.idle.push_back(self->spawn<caf::detached + caf::linked>(pool_worker, caf::actor{self}));
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
  pools.loads = system.spawn(worker_pool, sizes.loads, pools.gauge.loads);
  pools.reads = system.spawn(worker_pool, sizes.reads, pools.gauge.reads);
  pools.benchmarks = system.spawn(worker_pool, sizes.benchmarks, pools.gauge.benchmarks);
  pools.frees = system.spawn(worker_pool, sizes.frees, pools.gauge.frees);
  return pools;
}

void stop_worker_pools(const worker_pools& pools) {
  for (auto* pool : {&pools.loads, &pools.reads, &pools.benchmarks, &pools.frees})
    caf::anon_send_exit(*pool, caf::exit_reason::user_shutdown);
}

} // namespace modeld::actors
