#include "actors/status_aggregator.hpp"

#include <caf/event_based_actor.hpp>

namespace modeld::actors {
namespace {

// The answers gathered for one request; lives until the last device answered or timed out.
struct gathering {
  caf::typed_response_promise<cluster_status> promise;
  cluster_status result;
  std::size_t pending = 0;

  void finish_one() {
    if (--pending == 0)
      deliver();
  }
  void deliver() {
    result.overall_health = overall_health(result.devices);
    promise.deliver(std::move(result));
  }
};

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

status_aggregator_actor::behavior_type
status_aggregator(status_aggregator_actor::stateful_pointer<status_aggregator_state> self,
                  std::shared_ptr<const device_registry> registry, caf::timespan per_device_deadline) {
  self->state.registry = std::move(registry);
  self->state.deadline = per_device_deadline;
  return {
    [self](status_atom, const std::string& device_id) -> caf::result<cluster_status> {
      auto entries = self->state.registry->snapshot();
      auto gather = std::make_shared<gathering>();
      gather->promise = self->make_response_promise<cluster_status>();
      for (auto& entry : entries) {
        if (!device_id.empty() && entry.info.id != device_id)
          continue;
        auto index = gather->result.devices.size();
        gather->result.devices.push_back(unanswered_report(entry));
        if (entry.health != device_health::ready || !entry.handle)
          continue;
        ++gather->pending;
        self->request(entry.handle, self->state.deadline, status_atom::value)
          .then(
            [gather, index](device_status& status) {
              auto& report = gather->result.devices[index];
              report.answered = true;
              report.state = status.state;
              report.status = std::move(status);
              gather->finish_one();
            },
            [self, gather, index](caf::error& error) {
              auto& report = gather->result.devices[index];
              report.state = "failed";
              report.last_error = error == caf::sec::request_timeout
                                    ? "no answer within the status deadline"
                                    : self->system().render(error);
              gather->finish_one();
            });
      }
      if (gather->pending == 0)
        gather->deliver();
      return gather->promise;
    },
  };
}

} // namespace modeld::actors
