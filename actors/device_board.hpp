// Every device's latest status, published by the device itself on each change, plus when each
// device was last heard from (its heartbeat). Status readers read the board and never ask a
// device, so a status answer costs the same whether the devices are busy, hung or restarting.
//
// Two kinds of writes, kept apart so that heartbeats cost readers nothing:
//   publish  a change of what status shows (memory, models, state, counters): a new snapshot
//            of every device's report, with a new version (renderers cache per version);
//   heard    a heartbeat: one atomic store of the time, no new snapshot.
// A device not heard from within the status deadline is unresponsive, reported with the age of
// its last report. A device that knows it will stop answering (an injected hang) says so
// first (`silent_until`), so readers see it unresponsive at once rather than a deadline later.
//
// A device's counters are carried from one incarnation to the next, so they never go
// backwards across a restart. Writes from an incarnation that is no longer the latest are
// ignored (a device that went down may still have a heartbeat in flight).
//
// The board also keeps each device's load durations (a histogram per device, split by whether
// the load was served from host memory), recorded by the device where a load completes: one
// relaxed atomic add per load, no snapshot. Like the counters they outlive incarnations.
#pragma once

#include "actors/messages.hpp"
#include "metrics/histogram.hpp"

#include <caf/actor_addr.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::actors {

struct published_status {
  device_status status;      // its counters include those of earlier incarnations
  std::int64_t at_ms = 0;    // Unix epoch milliseconds of the publication
  caf::actor_addr from;      // the incarnation that published it
};

// Every device's latest report, in the order of the devices; never changes once read.
struct board_snapshot {
  std::uint64_t version = 0; // grows with every publication
  std::vector<std::shared_ptr<const published_status>> devices; // null: nothing published yet
};

// When a device was last heard from, and how long it declared it will be silent.
struct device_liveness {
  std::int64_t heard_ms = 0;         // Unix epoch milliseconds; 0: never
  std::int64_t silent_until_ms = 0;  // Unix epoch milliseconds; 0: not declared
  bool responsive(std::int64_t now_ms, std::chrono::milliseconds deadline) const {
    return heard_ms > 0 && now_ms - heard_ms <= deadline.count() && now_ms >= silent_until_ms;
  }
};

// Upper bounds (seconds) of the load duration histograms: a small model from host memory takes
// milliseconds, a large checkpoint read from disk a minute or more.
inline constexpr std::array<double, 14> load_seconds_buckets{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                             2.5,  5,     10,   20,  30,   60,  120};

class device_board {
public:
  // `device_ids` in the order of --devices; `deadline`: a device not heard from for longer is
  // unresponsive.
  explicit device_board(std::vector<std::string> device_ids,
                        std::chrono::milliseconds deadline = std::chrono::milliseconds(250));

  // A change of the device's status (also a heartbeat).
  void publish(const caf::actor_addr& from, device_status status);
  // The device is alive and answering.
  void heard(const caf::actor_addr& from, std::string_view device_id);
  // The device will not answer until `until_ms` (Unix epoch milliseconds).
  void silent_until(const caf::actor_addr& from, std::string_view device_id, std::int64_t until_ms);

  // A load that loaded on the device took `took` (as its statistics count it); `from_cache`:
  // served from host memory.
  void record_load(std::string_view device_id, std::chrono::duration<double> took, bool from_cache);
  // Durations of the loads recorded for the device at `device_index`.
  const metrics::histogram& load_seconds(std::size_t device_index, bool from_cache) const;

  std::shared_ptr<const board_snapshot> read() const;
  device_liveness liveness(std::size_t device_index) const;
  std::optional<std::size_t> index_of(std::string_view device_id) const;
  // The latest report of one device (a convenience over read()).
  std::optional<published_status> latest(std::string_view device_id) const;

  std::chrono::milliseconds deadline() const { return deadline_; }
  // How often a device reports that it is alive: well inside the deadline.
  std::chrono::milliseconds heartbeat_period() const;

private:
  struct times {
    std::atomic<std::int64_t> heard_ms{0};
    std::atomic<std::int64_t> silent_until_ms{0};
  };
  struct load_times {
    metrics::histogram from_disk{load_seconds_buckets};
    metrics::histogram from_cache{load_seconds_buckets};
  };

  // Whether `from` is the incarnation that last published for `index` (under mutex_).
  bool is_latest(std::size_t index, const caf::actor_addr& from) const;

  const std::vector<std::string> ids_;
  const std::chrono::milliseconds deadline_;
  std::unique_ptr<times[]> times_;
  std::unique_ptr<load_times[]> load_times_;
  mutable std::mutex mutex_; // writers; readers only load the snapshot pointer under it
  std::shared_ptr<const board_snapshot> snapshot_;
  std::vector<device_status> carried_; // per device: counters of the incarnations before the latest
};

} // namespace modeld::actors
