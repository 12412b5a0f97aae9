#include "actors/status_aggregator.hpp"

#include "actors/epoch.hpp"

#include <caf/event_based_actor.hpp>

namespace modeld::actors {

// The answers gathered for one request (or one heartbeat, which has no promise); lives until
// the last device answered or the deadline passed, whichever is first.
struct gathering {
  std::optional<caf::typed_response_promise<cluster_status>> promise;
  cluster_status result;
  std::vector<caf::actor_addr> asked; // per device: the incarnation asked (null: not asked)
  std::size_t pending = 0;
  bool delivered = false;

  void finish_one() {
    if (--pending == 0)
      deliver();
  }
  void deliver() {
    if (delivered)
      return;
    delivered = true;
    result.overall_health = overall_health(result.devices);
    if (promise)
      promise->deliver(std::move(result));
  }
};

namespace {

using self_pointer = status_aggregator_actor::stateful_pointer<status_aggregator_state>;

// The devices of `gather` that did not answer in time: unresponsive, with their last report.
void expire(self_pointer self, gathering& gather) {
  if (gather.delivered)
    return;
  auto& state = self->state;
  for (std::size_t i = 0; i < gather.result.devices.size(); ++i) {
    auto& report = gather.result.devices[i];
    if (report.answered || !gather.asked[i])
      continue;
    report.state = "unresponsive";
    report.last_error = "no answer within the status deadline of " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(state.deadline).count()) +
                        " ms";
    state.registry->set_responsive(report.info.id, false);
    auto last = state.registry->board()->latest(report.info.id);
    if (last && last->from == gather.asked[i]) {
      report.status = std::move(last->status);
      report.has_last_status = true;
      report.status_age_ms = epoch_ms() - last->at_ms;
    }
  }
  gather.deliver();
}

void arm_sweep(self_pointer self) {
  auto& state = self->state;
  while (!state.open.empty() && state.open.front().second->delivered)
    state.open.pop_front();
  if (state.sweep_armed || state.open.empty())
    return;
  auto wait = state.open.front().first - self->clock().now();
  state.sweep_armed = true;
  self->delayed_send(self, std::max(wait, caf::timespan{std::chrono::microseconds(100)}), sweep_atom::value);
}

void sweep(self_pointer self) {
  auto& state = self->state;
  state.sweep_armed = false;
  auto now = self->clock().now();
  while (!state.open.empty() && (state.open.front().first <= now || state.open.front().second->delivered)) {
    expire(self, *state.open.front().second);
    state.open.pop_front();
  }
  arm_sweep(self);
}

void ask_device(self_pointer self, const std::shared_ptr<gathering>& gather, std::size_t index,
                const registry_entry& entry) {
  auto& unanswered = self->state.unanswered[entry.info.id];
  if (unanswered >= max_unanswered_per_device) {
    gather->asked[index] = entry.handle.address(); // not asked again: unresponsive at the deadline
    ++gather->pending;
    return;
  }
  ++unanswered;
  ++gather->pending;
  auto device_id = entry.info.id;
  auto from = entry.handle.address();
  gather->asked[index] = from;
  // No CAF timeout: the sweep answers at the deadline (see the header).
  self->request(entry.handle, caf::infinite, status_atom::value)
    .then(
      [self, gather, index, device_id, from](device_status& status) {
        auto& state = self->state;
        --state.unanswered[device_id];
        state.registry->set_responsive(device_id, true);
        if (gather->delivered)
          return;
        auto& r = gather->result.devices[index];
        r.answered = true;
        r.state = status.state;
        // The device published this answer before sending it; the board's copy carries the
        // counters of its earlier incarnations.
        auto published = state.registry->board()->latest(device_id);
        r.status = published && published->from == from ? std::move(published->status) : std::move(status);
        gather->finish_one();
      },
      [self, gather, index, device_id](caf::error& error) {
        --self->state.unanswered[device_id];
        if (gather->delivered)
          return;
        auto& r = gather->result.devices[index];
        r.state = "unresponsive"; // it went down meanwhile, most likely: the supervisor will say
        r.last_error = self->system().render(error);
        gather->finish_one();
      });
}

// Asks the devices (all, or `device_id`) and answers `promise` (none: a heartbeat) by the deadline.
void gather(self_pointer self, const std::string& device_id,
            std::optional<caf::typed_response_promise<cluster_status>> promise) {
  auto& state = self->state;
  auto gather = std::make_shared<gathering>();
  gather->promise = std::move(promise);
  auto entries = state.registry->snapshot();
  for (auto& entry : *entries) {
    if (!device_id.empty() && entry.info.id != device_id)
      continue;
    gather->result.devices.push_back(unanswered_report(entry, state.registry->board()->latest(entry.info.id)));
    gather->asked.emplace_back();
    if (entry.handle)
      ask_device(self, gather, gather->result.devices.size() - 1, entry);
  }
  if (gather->pending == 0) {
    gather->deliver();
  } else {
    state.open.emplace_back(self->clock().now() + state.deadline, gather);
    arm_sweep(self);
  }
}

} // namespace

device_report unanswered_report(const registry_entry& entry, const std::optional<published_status>& last) {
  device_report report;
  report.info = entry.info;
  report.state = std::string{to_string(entry.health)};
  report.status.device_id = entry.info.id;
  report.restarts = entry.restarts;
  report.last_error = entry.last_error;
  if (last) { // its counters, carried over (nothing else: a restarting device holds no models)
    report.status.loads = last->status.loads;
    report.status.unloads = last->status.unloads;
    report.status.evictions = last->status.evictions;
    report.status.cache_hits = last->status.cache_hits;
    report.status.load_time_ms_total = last->status.load_time_ms_total;
  }
  return report;
}

status_aggregator_actor::behavior_type status_aggregator(self_pointer self, std::shared_ptr<device_registry> registry,
                                                         caf::timespan per_device_deadline, caf::timespan heartbeat) {
  self->state.registry = std::move(registry);
  self->state.deadline = per_device_deadline;
  self->state.heartbeat = heartbeat;
  if (heartbeat.count() > 0)
    self->delayed_send(self, heartbeat, heartbeat_atom::value);
  return {
    [self](status_atom, const std::string& device_id) -> caf::result<cluster_status> {
      auto promise = self->make_response_promise<cluster_status>();
      gather(self, device_id, promise);
      return promise;
    },
    [self](sweep_atom) { sweep(self); },
    [self](heartbeat_atom) {
      gather(self, {}, std::nullopt);
      self->delayed_send(self, self->state.heartbeat, heartbeat_atom::value);
    },
  };
}

} // namespace modeld::actors
