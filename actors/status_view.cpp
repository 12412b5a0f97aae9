#include "actors/status_view.hpp"

#include <string>

namespace modeld::actors {
namespace {

std::string silence_reason(const device_liveness& liveness, std::chrono::milliseconds deadline, std::int64_t now_ms) {
  if (liveness.silent_until_ms > now_ms)
    return "it stopped answering (an injected hang) for another " + std::to_string(liveness.silent_until_ms - now_ms) +
           " ms";
  return "no report within the status deadline of " + std::to_string(deadline.count()) + " ms";
}

device_report report_of(const device_registry& registry, const registry_entry& entry, const board_snapshot& board,
                        std::int64_t now_ms) {
  device_report report;
  report.info = entry.info;
  report.restarts = entry.restarts;
  report.last_error = entry.last_error;
  report.status.device_id = entry.info.id;
  auto& device_board = *registry.board();
  auto index = device_board.index_of(entry.info.id);
  const published_status* latest = index ? board.devices[*index].get() : nullptr;
  const auto health = registry.health_now(entry, board, now_ms);
  if (health == device_health::ready || health == device_health::unresponsive) {
    auto liveness = device_board.liveness(*index);
    report.status = latest->status;
    report.has_last_status = true;
    report.status_age_ms = std::max<std::int64_t>(0, now_ms - liveness.heard_ms);
    report.answered = health == device_health::ready;
    report.state = report.answered ? latest->status.state : std::string{to_string(health)};
    if (!report.answered)
      report.last_error = silence_reason(liveness, device_board.deadline(), now_ms);
    return report;
  }
  report.state = std::string{to_string(health)};
  if (latest) // its counters only: a restarting or failed device holds no models
    add_counters(report.status, latest->status);
  return report;
}

} // namespace

cluster_status read_local_status(const device_registry& registry, std::string_view device_id, std::int64_t now_ms) {
  cluster_status status;
  auto entries = registry.snapshot();
  auto board = registry.board()->read();
  for (auto& entry : *entries)
    if (device_id.empty() || entry.info.id == device_id)
      status.devices.push_back(report_of(registry, entry, *board, now_ms));
  status.overall_health = overall_health(status.devices);
  return status;
}

cluster_status read_status(const device_registry& registry, std::string_view device_id, std::int64_t now_ms) {
  auto status = read_local_status(registry, device_id, now_ms);
  if (!registry.peers())
    return status;
  for (auto& report : remote_reports(*registry.peers()->read(), device_id, now_ms))
    status.devices.push_back(std::move(report));
  status.overall_health = overall_health(status.devices);
  return status;
}

} // namespace modeld::actors
