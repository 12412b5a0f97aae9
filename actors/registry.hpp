// The stable handles of the device actors. The supervisor replaces an actor when it
// restarts; everyone else looks devices up here by id, so no one holds a dead handle.
#pragma once

#include "actors/actors.hpp"
#include "actors/device_board.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::actors {

// unresponsive: alive (it has a handle) but it missed its status deadline, hung or overloaded;
// failed: gave up after the restart limit.
enum class device_health { ready, unresponsive, restarting, failed };

std::string_view to_string(device_health health);

struct registry_entry {
  device_info info;
  device_actor handle; // invalid while restarting or failed
  device_health health = device_health::restarting;
  std::uint32_t restarts = 0;
  std::string last_error;
};

class device_registry {
public:
  explicit device_registry(std::vector<device_info> devices);

  using entries = std::vector<registry_entry>;

  // Every device, in the order of --devices. Copy-on-write: a snapshot is shared and never
  // changes; an update publishes a new one (status reads it on every request).
  std::shared_ptr<const entries> snapshot() const;
  std::optional<registry_entry> find(std::string_view device_id) const;
  const std::vector<device_info>& devices() const { return devices_; }
  // Each device's latest published status (the devices write it, status readers read it).
  const std::shared_ptr<device_board>& board() const { return board_; }
  bool contains(std::string_view device_id) const;

  void set_running(std::string_view device_id, device_actor handle, std::uint32_t restarts);
  void set_restarting(std::string_view device_id, std::string reason);
  void set_failed(std::string_view device_id, std::string reason);
  // Between ready and unresponsive (the status aggregator decides); a no-op for a device that
  // is restarting or failed, or already in that state.
  void set_responsive(std::string_view device_id, bool responsive);

private:
  template <class Change>
  void update(std::string_view device_id, Change&& change);

  const std::vector<device_info> devices_;
  const std::shared_ptr<device_board> board_ = std::make_shared<device_board>();
  mutable std::shared_mutex mutex_;
  std::shared_ptr<const entries> entries_;
};

} // namespace modeld::actors
