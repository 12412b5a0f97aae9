// What `modelctl top` knows, built only from the status events modeld pushes after
// `subscribe_status`: the latest status as typed rows, rates from the counter deltas between two
// successive events, and the changes between them. Pure (no socket, no terminal, clocks passed
// in), so all of it is unit-tested without ncurses.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace modeld::ctl::top {

// A count modeld sent; absent when it did not (a restarting device has no `used`) or sent
// something that is not a count, so the view shows "-" rather than a made-up 0.
using count = std::optional<std::uint64_t>;

struct model_row {
  std::string model_id;
  std::string dtype;
  count bytes;
  count last_used_ms; // Unix time
};

struct device_row {
  std::string device_id;
  std::string state; // "-" when absent
  count used, budget;
  count restarts;
  std::string last_error; // empty when none
  count evictions;
  std::vector<model_row> models;
  count failed_loads; // statistics.failed_loads: out of memory, a file it could not load
};

struct service_row {
  std::string name;
  std::string state;
  count restarts;
  std::string last_error;
};

// One of the bounded worker pools (`workers{}`): `loads` is the load queue.
struct pool_row {
  std::string name;
  count workers, busy, queued;
};

struct cache_row {
  count used, budget, entries;
  count hits, misses, evictions, bytes_read;
};

// One status event's data (the get_model_status shape), as far as it is well formed.
struct snapshot {
  std::string health; // "-" when absent
  count devices_total, devices_reachable;
  std::vector<device_row> devices;
  std::vector<service_row> services;
  std::vector<pool_row> pools;
  count loads, unloads, evictions; // statistics{}: sums over the devices, never going back
  count failed_loads;              // statistics.failed_loads, likewise
  count requests, failed_requests; // requests{}: answered by this modeld since it started
  cache_row cache;
};

// A count of bytes as every modelctl command spells it (human.hpp); "-" when absent.
std::string bytes_text(const count& n);

// Never throws: whatever is missing or ill-typed is absent in the result.
snapshot parse_status(const boost::json::value& data);

// Per second, between the two latest events of one connection; absent before the second one,
// and where a counter is missing or went back (a restarted cache counts from 0 again).
struct rates {
  std::optional<double> loads, unloads, evictions, cache_hits, cache_misses, bytes_read;
  std::optional<double> requests, failed_requests, failed_loads;
};

enum class severity { info, warning, error };

struct change {
  std::string text;
  severity level = severity::info;
  std::int64_t at_ms = 0; // Unix time it was seen
};

// What changed from `before` to `after`, two successive statuses of one connection: health,
// device states, restarts, evictions, failed loads, models loaded and unloaded, service states, devices that
// came or went. Times are left 0.
std::vector<change> changes_between(const snapshot& before, const snapshot& after);

class model {
public:
  using clock = std::chrono::steady_clock;
  // Older changes are dropped: the view shows the newest few.
  static constexpr std::size_t kept_changes = 200;

  // A status event's data, seen at `at` (for rates) and `wall_ms` (Unix time, for the log).
  void on_status(const boost::json::value& data, clock::time_point at, std::int64_t wall_ms);
  // A new connection: its first status is a new baseline, compared with nothing before it, as
  // a restarted modeld counts from 0 again.
  void on_connected(const std::string& server, std::int64_t wall_ms);
  // The connection was lost: rates are unknown until two events of the next one.
  void on_disconnected(const std::string& reason, std::int64_t wall_ms);

  // The latest status, kept (and shown as of its time) while disconnected.
  const std::optional<snapshot>& latest() const { return latest_; }
  std::optional<std::int64_t> latest_at_ms() const { return latest_wall_ms_; }
  const rates& current_rates() const { return rates_; }
  const std::deque<change>& changes() const { return changes_; }

private:
  void record(change c, std::int64_t wall_ms);

  std::optional<snapshot> latest_;
  std::optional<std::int64_t> latest_wall_ms_;
  // When latest_ arrived on the current connection; empty right after (re)connecting.
  std::optional<clock::time_point> latest_at_;
  rates rates_;
  std::deque<change> changes_;
};

} // namespace modeld::ctl::top
