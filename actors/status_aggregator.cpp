#include "actors/status_aggregator.hpp"

#include <caf/event_based_actor.hpp>

namespace modeld::actors {

// The answers gathered for one request; lives until the last device answered or the
// deadline passed, whichever is first.
struct gathering {
  caf::typed_response_promise<cluster_status> promise;
  cluster_status result;
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
    promise.deliver(std::move(result));
  }
  // Marks every device that has not answered as failed, then answers.
  void expire() {
    if (delivered)
      return;
    for (auto& report : result.devices)
      if (!report.answered && report.state == "ready") {
        report.state = "failed";
        report.last_error = "no answer within the status deadline";
      }
    deliver();
  }
};

namespace {

using self_pointer = status_aggregator_actor::stateful_pointer<status_aggregator_state>;

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
    state.open.front().second->expire();
    state.open.pop_front();
  }
  arm_sweep(self);
}

void ask_device(self_pointer self, const std::shared_ptr<gathering>& gather, std::size_t index,
                const registry_entry& entry) {
  auto& unanswered = self->state.unanswered[entry.info.id];
  auto& report = gather->result.devices[index];
  if (unanswered >= max_unanswered_per_device) {
    report.state = "failed";
    report.last_error = "not answering (" + std::to_string(unanswered) + " status requests unanswered)";
    return;
  }
  ++unanswered;
  ++gather->pending;
  auto device_id = entry.info.id;
  // No CAF timeout: the sweep answers at the deadline (see the header).
  self->request(entry.handle, caf::infinite, status_atom::value)
    .then(
      [self, gather, index, device_id](device_status& status) {
        --self->state.unanswered[device_id];
        if (gather->delivered)
          return;
        auto& r = gather->result.devices[index];
        r.answered = true;
        r.state = status.state;
        r.status = std::move(status);
        gather->finish_one();
      },
      [self, gather, index, device_id](caf::error& error) {
        --self->state.unanswered[device_id];
        if (gather->delivered)
          return;
        auto& r = gather->result.devices[index];
        r.state = "failed";
        r.last_error = self->system().render(error);
        gather->finish_one();
      });
}

} // namespace

device_report unanswered_report(const registry_entry& entry) {
  device_report report;
  report.info = entry.info;
  report.state = std::string{to_string(entry.health)};
  report.status.device_id = entry.info.id;
  report.restarts = entry.restarts;
  report.last_error = entry.last_error;
  return report;
}

status_aggregator_actor::behavior_type status_aggregator(self_pointer self,
                                                         std::shared_ptr<const device_registry> registry,
                                                         caf::timespan per_device_deadline) {
  self->state.registry = std::move(registry);
  self->state.deadline = per_device_deadline;
  return {
    [self](status_atom, const std::string& device_id) -> caf::result<cluster_status> {
      auto gather = std::make_shared<gathering>();
      gather->promise = self->make_response_promise<cluster_status>();
      auto entries = self->state.registry->snapshot();
      for (auto& entry : *entries) {
        if (!device_id.empty() && entry.info.id != device_id)
          continue;
        auto index = gather->result.devices.size();
        gather->result.devices.push_back(unanswered_report(entry));
        if (entry.health == device_health::ready && entry.handle)
          ask_device(self, gather, index, entry);
      }
      if (gather->pending == 0) {
        gather->deliver();
      } else {
        self->state.open.emplace_back(self->clock().now() + self->state.deadline, gather);
        arm_sweep(self);
      }
      return gather->promise;
    },
    [self](sweep_atom) { sweep(self); },
  };
}

} // namespace modeld::actors
