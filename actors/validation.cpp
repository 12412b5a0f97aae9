#include "actors/validation.hpp"

#include "catalog/report_json.hpp"

#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include <boost/json/serialize.hpp>

#include <chrono>

namespace modeld::actors {
namespace {

using self_pointer = validation_actor::stateful_pointer<validation_state>;

// Progress is reported at most this often per scan.
constexpr auto progress_interval = std::chrono::milliseconds(100);

validation_worker_actor::behavior_type validation_worker(validation_worker_actor::pointer) {
  return {
    [](run_atom, const worker_job& job) { return run_validation(job); },
  };
}

std::string scan_key(const validation_job& job) {
  return std::string{catalog::to_string(job.level)} + ":" + job.path;
}

void start_queued(self_pointer self);

void finish(self_pointer self, const std::string& key, validation_worker_actor worker, const validation_outcome& outcome) {
  auto& state = self->state;
  if (auto it = state.scans.find(key); it != state.scans.end()) {
    state.running->remove(it->second.job.cancel);
    for (auto& w : it->second.waiters) {
      w.promise.deliver(outcome);
      state.ticket_scans.erase(w.ticket);
    }
    state.scans.erase(it);
  }
  state.idle.push_back(std::move(worker));
  start_queued(self);
}

void start_queued(self_pointer self) {
  auto& state = self->state;
  while (!state.idle.empty() && !state.queued.empty()) {
    auto key = state.queued.front();
    state.queued.pop_front();
    auto it = state.scans.find(key);
    if (it == state.scans.end())
      continue; // everyone left before it started
    auto worker = state.idle.back();
    state.idle.pop_back();
    it->second.started = true;
    state.running->add(it->second.job.cancel);
    self->request(worker, caf::infinite, run_atom::value, it->second.job)
      .then([self, key, worker](validation_outcome& outcome) { finish(self, key, worker, outcome); },
            [self, key, worker](caf::error& error) {
              auto& state = self->state;
              if (auto it = state.scans.find(key); it != state.scans.end()) {
                state.running->remove(it->second.job.cancel);
                for (auto& w : it->second.waiters) {
                  w.promise.deliver(error);
                  state.ticket_scans.erase(w.ticket);
                }
                state.scans.erase(it);
              }
              // A worker that failed is replaced, so the pool keeps its size.
              self->state.idle.push_back(self->spawn<caf::detached + caf::linked>(validation_worker));
              start_queued(self);
            });
  }
}

caf::result<validation_outcome> enqueue(self_pointer self, validation_job& job) {
  auto& state = self->state;
  auto key = scan_key(job);
  auto promise = self->make_response_promise<validation_outcome>();
  auto [it, inserted] = state.scans.try_emplace(key);
  auto& scan = it->second;
  if (inserted) {
    scan.job = worker_job{job.path, job.file, job.level, std::make_shared<std::atomic<bool>>(false),
                          std::make_shared<progress_fanout>()};
    state.queued.push_back(key);
  }
  scan.waiters.push_back({job.ticket, promise});
  if (job.progress)
    scan.job.progress->add(job.ticket, job.progress);
  state.ticket_scans[job.ticket] = key;
  start_queued(self);
  return promise;
}

void drop(self_pointer self, std::uint64_t ticket) {
  auto& state = self->state;
  auto by_ticket = state.ticket_scans.find(ticket);
  if (by_ticket == state.ticket_scans.end())
    return;
  auto key = by_ticket->second;
  state.ticket_scans.erase(by_ticket);
  auto it = state.scans.find(key);
  if (it == state.scans.end())
    return;
  auto& waiters = it->second.waiters;
  for (auto w = waiters.begin(); w != waiters.end(); ++w)
    if (w->ticket == ticket) {
      w->promise.deliver(caf::make_error(caf::sec::request_timeout, "the requester went away"));
      waiters.erase(w);
      break;
    }
  it->second.job.progress->remove(ticket);
  if (!waiters.empty())
    return;
  if (it->second.started)
    it->second.job.cancel->store(true); // the worker stops at its next check and reports cancelled
  else
    state.scans.erase(it);
}

} // namespace

void progress_fanout::add(std::uint64_t ticket, std::shared_ptr<const progress_sink> sink) {
  std::lock_guard lock{mutex_};
  sinks_[ticket] = std::move(sink);
}

void progress_fanout::remove(std::uint64_t ticket) {
  std::lock_guard lock{mutex_};
  sinks_.erase(ticket);
}

void progress_fanout::report(std::uint64_t done_bytes, std::uint64_t total_bytes, const std::string& stage) const {
  std::lock_guard lock{mutex_};
  for (auto& [ticket, sink] : sinks_)
    (*sink)(done_bytes, total_bytes, stage);
}

void running_scans::add(const std::shared_ptr<std::atomic<bool>>& cancel) {
  std::lock_guard lock{mutex_};
  flags_.push_back(cancel);
}

void running_scans::remove(const std::shared_ptr<std::atomic<bool>>& cancel) {
  std::lock_guard lock{mutex_};
  std::erase(flags_, cancel);
}

void running_scans::cancel_all() {
  std::lock_guard lock{mutex_};
  for (auto& flag : flags_)
    flag->store(true);
}

validation_outcome run_validation(const worker_job& job) {
  auto last = std::chrono::steady_clock::now() - progress_interval;
  formats::inspect_options options;
  options.level = job.level;
  options.cancel = job.cancel.get();
  options.progress = [&](std::uint64_t done, std::uint64_t total, std::string_view stage) {
    auto now = std::chrono::steady_clock::now();
    if (now - last < progress_interval && done < total)
      return;
    last = now;
    job.progress->report(done, total, std::string{stage});
  };
  auto report = formats::inspect_opened(job.file ? job.file->duplicate() : formats::unique_fd{}, job.path, options);
  validation_outcome outcome;
  outcome.cancelled = report.cancelled;
  outcome.result_json = boost::json::serialize(catalog::validation_json(report, job.level));
  // A file that changed while it was read: the report describes no state of it, so nothing of
  // it (checksums least of all) may be remembered.
  outcome.describes_file = !formats::has_code(report.issues, "FILE_CHANGED");
  if (report.checksums && outcome.describes_file) {
    outcome.sha256 = report.checksums->sha256;
    outcome.autov2 = report.checksums->autov2;
  }
  return outcome;
}

validation_actor::behavior_type validation(self_pointer self, std::size_t workers) {
  for (std::size_t i = 0; i < std::max<std::size_t>(workers, 1); ++i)
    self->state.idle.push_back(self->spawn<caf::detached + caf::linked>(validation_worker));
  // At shutdown, running scans stop at their next check instead of finishing a multi-GB pass.
  self->attach_functor([running = self->state.running] { running->cancel_all(); });
  return {
    [self](validate_atom, validation_job& job) { return enqueue(self, job); },
    [self](drop_atom, std::uint64_t ticket) { drop(self, ticket); },
    [self](fault_atom, const fault_request& fault) { return inject_service_fault(self, fault); },
  };
}

} // namespace modeld::actors
