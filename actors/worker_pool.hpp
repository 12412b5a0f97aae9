// Bounded pools of detached worker threads for blocking work: file reads, libtorch copies,
// benchmark runs and frees (munmap, a CUDA allocator's cache). A job waits in FIFO order for
// a free worker, so there is never a thread per request and never blocking work on the
// scheduler; each pool publishes how many workers it has, how many are busy and how many jobs
// wait on a gauge that status reads.
//
// A job is a closure that runs on the worker and returns the answer as a message; the
// requester handles that answer with `request(pool, ...).then(...)` as from any actor:
//   self->request(pools.loads, caf::infinite, run_atom::value, blocking_job{[job] {
//     return caf::make_message(run_load(job)); }}).then([](load_outcome& outcome) { ... });
// Jobs hold buffers and descriptors of this process: a pool is local by nature.
#pragma once

#include "actors/atoms.hpp"
#include "actors/local_ref.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace modeld::actors {

struct blocking_job {
  std::function<caf::message()> run;
};

// The closure travels as a node-local reference (local_ref.hpp): a pool runs its own node's work.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, blocking_job& x) {
  return f(caf::meta::type_name("blocking_job"), local(x.run));
}

// What a pool is doing now, written by the pool, read by status.
struct pool_gauge {
  std::atomic<std::uint32_t> workers{0};
  std::atomic<std::uint32_t> busy{0};
  std::atomic<std::uint32_t> queued{0};
  std::atomic<std::uint64_t> done{0};
};

struct worker_pool_state {
  static inline const char* name = "worker_pool";
  std::shared_ptr<pool_gauge> gauge;
  std::vector<caf::actor> idle;
  struct waiting {
    caf::response_promise promise;
    blocking_job job;
  };
  std::deque<waiting> queued;
  std::size_t busy = 0;
};

// How a pool's threads compete for the CPU. Bulk work (reads, copies, frees) runs at a lower
// priority than the front end and the actors, so status answers stay fast on a host whose
// cores a load keeps busy; benchmark runs keep the normal priority, as their timings are
// what they report.
enum class worker_priority { normal, bulk };

// A pool of `workers` detached workers; they stop with it.
caf::behavior worker_pool(caf::stateful_actor<worker_pool_state>* self, std::size_t workers,
                          std::shared_ptr<pool_gauge> gauge, worker_priority priority);

// The pools the devices and the cache use, and their gauges for status.
struct worker_pools {
  caf::actor loads;      // reads of a cache miss and copies into device memory
  caf::actor reads;      // the cache's reads and inspections
  caf::actor benchmarks; // benchmark runs
  caf::actor frees;      // weights and buffers let go (unmapping, freeing device memory)

  struct gauges {
    std::shared_ptr<pool_gauge> loads = std::make_shared<pool_gauge>();
    std::shared_ptr<pool_gauge> reads = std::make_shared<pool_gauge>();
    std::shared_ptr<pool_gauge> benchmarks = std::make_shared<pool_gauge>();
    std::shared_ptr<pool_gauge> frees = std::make_shared<pool_gauge>();
  } gauge;
};

struct pool_sizes {
  std::size_t loads = 2;
  std::size_t reads = 2;
  std::size_t benchmarks = 1;
  std::size_t frees = 1;
};

worker_pools spawn_worker_pools(caf::actor_system& system, const pool_sizes& sizes);
void stop_worker_pools(const worker_pools& pools);

// Lets `doomed` go on the frees pool, so its destructor (an unmapping, freeing device memory)
// does not run on the caller's thread.
template <class T>
void free_later(const worker_pools& pools, std::shared_ptr<T> doomed) {
  if (!doomed)
    return;
  caf::anon_send(pools.frees, run_atom::value, blocking_job{[doomed = std::move(doomed)]() mutable {
                   doomed.reset();
                   return caf::make_message();
                 }});
}

} // namespace modeld::actors
