// What this node knows of the nodes it joined (--join): for each, its name, whether it
// answers, and its devices as it last reported them. The peer actors (node.hpp) write it; status
// reads it without a hop, as it reads the local device board, so a node that stops answering
// costs a status answer nothing.
#pragma once

#include "actors/messages.hpp"

#include <caf/actor_control_block.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::actors {

// A node joined by address.
struct peer_view {
  std::string address;       // HOST:PORT, as --join gave it
  std::string node_name;     // empty until it first answered
  bool reachable = false;
  std::string last_error;    // why it is not reachable
  std::int64_t heard_ms = 0; // when it last answered (Unix epoch ms); 0: never
  cluster_status status;     // its own devices, as it last reported them
  std::vector<std::string> cached_models; // the models in its RAM cache, as it last reported them
  caf::strong_actor_ptr node; // its node actor while connected (requests for its devices go there)
};

// A peer not heard from for this long is unreachable, whatever its actor last wrote.
inline constexpr std::int64_t peer_silence_ms = 1500;

// True when `peer` answers: its last request did, within peer_silence_ms of `now_ms`.
inline bool answering(const peer_view& peer, std::int64_t now_ms) {
  return peer.reachable && now_ms - peer.heard_ms <= peer_silence_ms;
}

class peer_board {
public:
  // `secret`: what requests to those nodes carry (--node-secret-file; empty: none).
  peer_board(const std::vector<std::string>& addresses, std::string secret);

  using snapshot = std::vector<peer_view>;
  // Copy-on-write: a snapshot never changes; each write publishes a new one.
  std::shared_ptr<const snapshot> read() const;

  void connected(std::size_t index, caf::strong_actor_ptr node);
  void heard(std::size_t index, std::string node_name, cluster_status status, std::vector<std::string> cached_models,
             std::int64_t now_ms);
  // `disconnected`: the connection is gone too (not only an answer late).
  void lost(std::size_t index, std::string why, bool disconnected = false);

  const std::string& secret() const { return secret_; }

private:
  const std::string secret_;
  mutable std::mutex mutex_;
  std::shared_ptr<const snapshot> peers_;
};

// Separates a remote device id into its node's name and the device's id there ("b/cuda:1" is
// device cuda:1 of node b); empty for a local id.
struct remote_device_id {
  std::string node;
  std::string device;
};
std::optional<remote_device_id> split_remote_id(std::string_view device_id);

// Where a request for a joined node's device goes: that node's actor (null while it does not
// answer, `unreachable` then says why) and the device's id there.
struct peer_route {
  std::string node_name;
  std::string device_id;
  caf::strong_actor_ptr node;
  std::string unreachable;
};

// The route of `device_id` when it names a device of a node on `peers`; none otherwise.
std::optional<peer_route> route_to(const peer_board::snapshot& peers, std::string_view device_id, std::int64_t now_ms);

// The route to the node named `node_name` itself (its device_id empty), once it has answered.
std::optional<peer_route> route_to_node(const peer_board::snapshot& peers, std::string_view node_name,
                                        std::int64_t now_ms);

// The routes to every node on `peers` that answers now (their device_id empty).
std::vector<peer_route> answering_nodes(const peer_board::snapshot& peers, std::int64_t now_ms);

// True when `device_id` (NAME/ID) names a device of a node on `peers`, as it last reported.
bool knows_device(const peer_board::snapshot& peers, std::string_view device_id);

// The devices of the nodes on `peers` as this node shows them (every one when `device_id` is
// empty): ids NAME/ID; a node unreachable now (or silent for peer_silence_ms) shows its devices
// `unreachable`, with their last report and its age.
std::vector<device_report> remote_reports(const peer_board::snapshot& peers, std::string_view device_id,
                                          std::int64_t now_ms);

} // namespace modeld::actors
