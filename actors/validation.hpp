// The validation actor: a coordinator on the scheduler and a pool of detached workers that
// run formats::inspect_file. Requests for the same file and level while a scan runs join
// it; a scan whose requesters have all gone is cancelled.
#pragma once

#include "actors/actors.hpp"
#include "actors/service_faults.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace modeld::actors {

// The progress sinks of everyone waiting on one scan; the worker reports through it while
// the coordinator adds and removes waiters.
class progress_fanout {
public:
  void add(std::uint64_t ticket, std::shared_ptr<const progress_sink> sink);
  void remove(std::uint64_t ticket);
  void report(std::uint64_t done_bytes, std::uint64_t total_bytes, const std::string& stage) const;

private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::shared_ptr<const progress_sink>> sinks_;
};

struct worker_job {
  std::string path;
  std::shared_ptr<const formats::unique_fd> file; // opened inside the roots
  formats::validation_level level = formats::validation_level::standard;
  std::shared_ptr<std::atomic<bool>> cancel;
  std::shared_ptr<progress_fanout> progress;
};

// The file, cancel flag and progress travel as node-local references (local_ref.hpp).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_job& x) {
  return f(caf::meta::type_name("worker_job"), x.path, local(x.file), x.level, local(x.cancel), local(x.progress));
}

using validation_worker_actor = caf::typed_actor<caf::replies_to<run_atom, worker_job>::with<validation_outcome>>;

// Runs one inspection (blocking; detached actor).
validation_outcome run_validation(const worker_job& job);

// The cancel flags of the scans that run now.
class running_scans {
public:
  void add(const std::shared_ptr<std::atomic<bool>>& cancel);
  void remove(const std::shared_ptr<std::atomic<bool>>& cancel);
  void cancel_all();

private:
  std::mutex mutex_;
  std::vector<std::shared_ptr<std::atomic<bool>>> flags_;
};

struct validation_state {
  static inline const char* name = "validation";
  struct waiter {
    std::uint64_t ticket;
    caf::typed_response_promise<validation_outcome> promise;
  };
  struct scan {
    worker_job job;
    std::vector<waiter> waiters;
    bool started = false;
  };
  std::vector<validation_worker_actor> idle;
  std::map<std::string, scan> scans; // key: level + ":" + path
  std::deque<std::string> queued;    // keys waiting for a worker
  std::map<std::uint64_t, std::string> ticket_scans;
  // Cancel flags of running scans, shared with the exit hook that stops them at shutdown.
  std::shared_ptr<running_scans> running = std::make_shared<running_scans>();
  service_fault fault; // inject_fault in progress
};

validation_actor::behavior_type validation(validation_actor::stateful_pointer<validation_state> self,
                                           std::size_t workers);

} // namespace modeld::actors
