// The stable handles of the device actors. The supervisor replaces an actor when it
// restarts; everyone else looks devices up here by id, so no one holds a dead handle.
#pragma once

#include "actors/actors.hpp"
#include "actors/device_board.hpp"
#include "actors/peer_board.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::actors {

// unresponsive: alive (it has a handle) but not heard from within the status deadline, hung or
// overloaded (decided from the device board when read, never stored); failed: gave up after the
// restart limit.
enum class device_health { ready, unresponsive, restarting, failed };

std::string_view to_string(device_health health);

struct registry_entry {
  device_info info;
  device_actor handle; // invalid while restarting or failed
  device_health health = device_health::restarting; // ready, restarting or failed: see health_now
  std::uint32_t restarts = 0;
  std::string last_error;
};

class device_registry {
public:
  // `status_deadline`: a running device not heard from for longer is unresponsive.
  explicit device_registry(std::vector<device_info> devices,
                           std::chrono::milliseconds status_deadline = std::chrono::milliseconds(250));

  using entries = std::vector<registry_entry>;

  // Every device, in the order of --devices. Copy-on-write: a snapshot is shared and never
  // changes; an update publishes a new one (status reads it on every request).
  std::shared_ptr<const entries> snapshot() const;
  std::optional<registry_entry> find(std::string_view device_id) const;
  const std::vector<device_info>& devices() const { return devices_; }
  // Each device's latest published status (the devices write it, status readers read it).
  const std::shared_ptr<device_board>& board() const { return board_; }
  bool contains(std::string_view device_id) const;
  // The nodes this one joined (--join), their devices shown with its own; null: none. Set
  // once, before anything reads status.
  const std::shared_ptr<const peer_board>& peers() const { return peers_; }
  void join(std::shared_ptr<const peer_board> peers) { peers_ = std::move(peers); }
  // True when `device_id` names a device of a joined node (NAME/ID).
  bool is_remote(std::string_view device_id) const { return peers_ && knows_device(*peers_->read(), device_id); }
  // True for a device status can show: this node's own or a joined node's.
  bool shows(std::string_view device_id) const { return contains(device_id) || is_remote(device_id); }

  void set_running(std::string_view device_id, device_actor handle, std::uint32_t restarts);
  void set_restarting(std::string_view device_id, std::string reason);
  void set_failed(std::string_view device_id, std::string reason);

  // The device's health at `now_ms` (Unix epoch ms), one answer for every command: a running
  // device is unresponsive when the board has not heard from it within the deadline, and
  // still restarting until its new incarnation has published its first report.
  device_health health_now(const registry_entry& entry, std::int64_t now_ms) const;
  device_health health_now(const registry_entry& entry, const board_snapshot& board, std::int64_t now_ms) const;

private:
  template <class Change>
  void update(std::string_view device_id, Change&& change);

  const std::vector<device_info> devices_;
  const std::shared_ptr<device_board> board_;
  mutable std::shared_mutex mutex_;
  std::shared_ptr<const entries> entries_;
  std::shared_ptr<const peer_board> peers_;
};

} // namespace modeld::actors
