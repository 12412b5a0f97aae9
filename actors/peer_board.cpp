#include "actors/peer_board.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace modeld::actors {

peer_board::peer_board(const std::vector<std::string>& addresses, std::string secret) : secret_(std::move(secret)) {
  snapshot peers;
  for (const auto& address : addresses)
    peers.push_back({address, "", false, "not connected yet", 0, {}, {}, nullptr});
  peers_ = std::make_shared<const snapshot>(std::move(peers));
}

std::shared_ptr<const peer_board::snapshot> peer_board::read() const {
  std::lock_guard lock{mutex_};
  return peers_;
}

void peer_board::heard(std::size_t index, std::string node_name, cluster_status status,
                       std::vector<std::string> cached_models, std::int64_t now_ms) {
  std::lock_guard lock{mutex_};
  auto next = std::make_shared<snapshot>(*peers_);
  auto& peer = next->at(index);
  peer.node_name = std::move(node_name);
  peer.reachable = true;
  peer.last_error.clear();
  peer.heard_ms = now_ms;
  peer.status = std::move(status);
  peer.cached_models = std::move(cached_models);
  peers_ = std::move(next);
}

void peer_board::connected(std::size_t index, caf::strong_actor_ptr node) {
  std::lock_guard lock{mutex_};
  auto next = std::make_shared<snapshot>(*peers_);
  next->at(index).node = std::move(node);
  peers_ = std::move(next);
}

void peer_board::lost(std::size_t index, std::string why, bool disconnected) {
  std::lock_guard lock{mutex_};
  const auto& peer = peers_->at(index);
  if (!peer.reachable && peer.last_error == why && (!disconnected || !peer.node))
    return;
  auto next = std::make_shared<snapshot>(*peers_);
  next->at(index).reachable = false;
  next->at(index).last_error = std::move(why);
  if (disconnected)
    next->at(index).node = nullptr;
  peers_ = std::move(next);
}

std::optional<remote_device_id> split_remote_id(std::string_view device_id) {
  auto slash = device_id.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == device_id.size())
    return std::nullopt;
  return remote_device_id{std::string{device_id.substr(0, slash)}, std::string{device_id.substr(slash + 1)}};
}

namespace {

// The node whose device `id` names, as it last reported its devices.
const peer_view* owner_of(const peer_board::snapshot& peers, const remote_device_id& id) {
  for (const auto& peer : peers)
    if (peer.node_name == id.node)
      for (const auto& report : peer.status.devices)
        if (report.info.id == id.device)
          return &peer;
  return nullptr;
}

// Why `peer`, not answering at `now_ms`, is unreachable.
std::string unreachable_reason(const peer_view& peer, std::int64_t now_ms) {
  return "node " + peer.node_name + " (" + peer.address + ") is unreachable: " +
         (peer.reachable ? "no answer for " + std::to_string(now_ms - peer.heard_ms) + " ms"
                         : (peer.last_error.empty() ? "no answer" : peer.last_error));
}

} // namespace

namespace {

// The route to `peer`, for its device `device_id` (empty: the node itself).
peer_route route_through(const peer_view& peer, std::string device_id, std::int64_t now_ms) {
  peer_route route{peer.node_name, std::move(device_id), nullptr, {}};
  if (answering(peer, now_ms) && peer.node)
    route.node = peer.node;
  else
    route.unreachable = unreachable_reason(peer, now_ms);
  return route;
}

} // namespace

std::optional<peer_route> route_to(const peer_board::snapshot& peers, std::string_view device_id, std::int64_t now_ms) {
  auto id = split_remote_id(device_id);
  const auto* peer = id ? owner_of(peers, *id) : nullptr;
  if (peer == nullptr)
    return std::nullopt;
  return route_through(*peer, id->device, now_ms);
}

std::optional<peer_route> route_to_node(const peer_board::snapshot& peers, std::string_view node_name,
                                        std::int64_t now_ms) {
  for (const auto& peer : peers)
    if (!peer.node_name.empty() && peer.node_name == node_name)
      return route_through(peer, {}, now_ms);
  return std::nullopt;
}

std::vector<peer_route> answering_nodes(const peer_board::snapshot& peers, std::int64_t now_ms) {
  std::vector<peer_route> routes;
  for (const auto& peer : peers)
    if (answering(peer, now_ms) && peer.node)
      routes.push_back(route_through(peer, {}, now_ms));
  return routes;
}

bool knows_device(const peer_board::snapshot& peers, std::string_view device_id) {
  auto id = split_remote_id(device_id);
  return id && owner_of(peers, *id) != nullptr;
}

std::vector<device_report> remote_reports(const peer_board::snapshot& peers, std::string_view device_id,
                                          std::int64_t now_ms) {
  std::vector<device_report> reports;
  for (const auto& peer : peers) {
    if (peer.node_name.empty())
      continue; // never answered: it has no devices to show yet
    const bool reachable = answering(peer, now_ms);
    for (auto report : peer.status.devices) {
      auto id = peer.node_name + "/" + report.info.id;
      if (!device_id.empty() && id != device_id)
        continue;
      report.info.id = id;
      report.status.device_id = id;
      report.status_age_ms += std::max<std::int64_t>(0, now_ms - peer.heard_ms);
      if (!reachable) {
        report.has_last_status = report.answered || report.has_last_status;
        report.answered = false;
        report.state = "unreachable";
        report.last_error = unreachable_reason(peer, now_ms);
      }
      reports.push_back(std::move(report));
    }
  }
  return reports;
}

} // namespace modeld::actors
