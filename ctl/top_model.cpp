#include "ctl/top_model.hpp"

#include "ctl/human.hpp"
#include "gpu/byte_size.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace modeld::ctl::top {
namespace json = boost::json;
namespace {

count count_of(const json::value* value) {
  if (value == nullptr)
    return std::nullopt;
  if (value->is_uint64())
    return value->get_uint64();
  if (value->is_int64() && value->get_int64() >= 0)
    return static_cast<std::uint64_t>(value->get_int64());
  return std::nullopt;
}

count count_at(const json::value& root, std::initializer_list<std::string_view> path) {
  return count_of(find(root, path));
}

// Error texts are free text: empty rather than human.hpp's "-" when absent.
std::string error_at(const json::value& root, std::initializer_list<std::string_view> path) {
  auto* value = find(root, path);
  return value && value->is_string() ? std::string{value->get_string()} : std::string{};
}

const json::array* array_at(const json::value& root, std::string_view key) {
  auto* value = find(root, {key});
  return value ? value->if_array() : nullptr;
}

std::string plural(std::uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// How much a counter grew; 0 when either side is absent or it went back.
std::uint64_t growth(const count& before, const count& after) {
  return before && after && *after > *before ? *after - *before : 0;
}

severity severity_of_state(const std::string& state) {
  if (state == "failed" || state == "unreachable" || state == "down")
    return severity::error;
  if (state == "ready" || state == "busy" || state == "healthy")
    return severity::info;
  return severity::warning;
}

// States in which a device shows its models: restarting and failed ones report none, so the
// models "vanishing" there is the restart, not an unload.
bool shows_models(const std::string& state) { return state == "ready" || state == "busy" || state == "unresponsive"; }

std::optional<double> per_second(const count& before, const count& after, double seconds) {
  if (!before || !after || *after < *before || seconds <= 0)
    return std::nullopt;
  return static_cast<double>(*after - *before) / seconds;
}

void device_changes(const device_row& was, const device_row& now, std::vector<change>& out) {
  auto& id = now.device_id;
  bool restarted = growth(was.restarts, now.restarts) > 0;
  if (restarted)
    out.push_back({id + " restarted (restarts " + std::to_string(*now.restarts) + ")" +
                     (now.last_error.empty() ? "" : ": " + now.last_error),
                   severity::warning});
  if (was.state != now.state)
    out.push_back({id + " " + was.state + " -> " + now.state, severity_of_state(now.state)});
  if (auto evicted = growth(was.evictions, now.evictions))
    out.push_back({id + " evicted " + plural(evicted, "model", "models"), severity::info});
  if (auto failed = growth(was.failed_loads, now.failed_loads))
    out.push_back({id + ": " + plural(failed, "load", "loads") + " failed (failed loads " +
                     std::to_string(*now.failed_loads) + ")",
                   severity::error});
  // A restart between two events takes the models with it; that is not an unload.
  if (restarted || !shows_models(was.state) || !shows_models(now.state))
    return;
  std::set<std::string> before, after;
  for (auto& m : was.models)
    before.insert(m.model_id);
  for (auto& m : now.models)
    after.insert(m.model_id);
  for (auto& m : now.models)
    if (!before.contains(m.model_id))
      out.push_back({id + " loaded " + m.model_id + " (" + m.dtype + ", " + bytes_text(m.bytes) + ")", severity::info});
  for (auto& m : was.models)
    if (!after.contains(m.model_id))
      out.push_back({id + " unloaded " + m.model_id, severity::info});
}

} // namespace

std::string bytes_text(const count& n) { return n ? gpu::format_byte_size(*n) : "-"; }

snapshot parse_status(const json::value& data) {
  snapshot s;
  s.health = text(data, {"overall_health"});
  s.devices_total = count_at(data, {"statistics", "devices_total"});
  s.devices_reachable = count_at(data, {"statistics", "devices_reachable"});
  s.loads = count_at(data, {"statistics", "loads"});
  s.unloads = count_at(data, {"statistics", "unloads"});
  s.evictions = count_at(data, {"statistics", "evictions"});
  s.failed_loads = count_at(data, {"statistics", "failed_loads"});
  s.requests = count_at(data, {"requests", "answered"});
  s.failed_requests = count_at(data, {"requests", "failed"});
  if (auto* devices = array_at(data, "devices"))
    for (auto& d : *devices) {
      if (!d.is_object())
        continue;
      device_row row{text(d, {"device_id"}), text(d, {"state"}),   count_at(d, {"memory", "used"}),
                     count_at(d, {"memory", "budget"}), count_at(d, {"restarts"}), error_at(d, {"last_error"}),
                     count_at(d, {"statistics", "evictions"}), {}, count_at(d, {"statistics", "failed_loads"})};
      if (auto* models = array_at(d, "loaded_models"))
        for (auto& m : *models)
          if (m.is_object())
            row.models.push_back(
              {text(m, {"model_id"}), text(m, {"dtype"}), count_at(m, {"bytes"}), count_at(m, {"last_used_ms"})});
      s.devices.push_back(std::move(row));
    }
  if (auto* services = array_at(data, "services"))
    for (auto& v : *services)
      if (v.is_object())
        s.services.push_back(
          {text(v, {"name"}), text(v, {"state"}), count_at(v, {"restarts"}), error_at(v, {"last_error"})});
  if (auto* workers = find(data, {"workers"}); workers && workers->is_object())
    for (auto& [name, pool] : workers->get_object())
      s.pools.push_back({std::string{name}, count_at(pool, {"workers"}), count_at(pool, {"busy"}),
                         count_at(pool, {"queued"})});
  s.cache = {count_at(data, {"cache", "used_bytes"}),
             count_at(data, {"cache", "budget_bytes"}),
             std::nullopt,
             count_at(data, {"cache", "statistics", "hits"}),
             count_at(data, {"cache", "statistics", "misses"}),
             count_at(data, {"cache", "statistics", "evictions"}),
             count_at(data, {"cache", "statistics", "bytes_read"})};
  if (auto* entries = find(data, {"cache", "entries"}); entries && entries->is_array())
    s.cache.entries = entries->get_array().size();
  return s;
}

std::vector<change> changes_between(const snapshot& before, const snapshot& after) {
  std::vector<change> out;
  std::map<std::string, const device_row*> was;
  for (auto& d : before.devices)
    was.emplace(d.device_id, &d);
  for (auto& d : after.devices) {
    auto found = was.find(d.device_id);
    if (found == was.end()) {
      out.push_back({d.device_id + " appeared (" + d.state + ")", severity::info});
      continue;
    }
    device_changes(*found->second, d, out);
    was.erase(found);
  }
  for (auto& [id, d] : was)
    out.push_back({id + " is gone from status", severity::warning});
  std::map<std::string, const service_row*> services;
  for (auto& s : before.services)
    services.emplace(s.name, &s);
  for (auto& s : after.services) {
    auto found = services.find(s.name);
    if (found == services.end())
      continue;
    if (growth(found->second->restarts, s.restarts) > 0)
      out.push_back({"service " + s.name + " restarted (restarts " + std::to_string(*s.restarts) + ")" +
                       (s.last_error.empty() ? "" : ": " + s.last_error),
                     severity::warning});
    if (found->second->state != s.state)
      out.push_back({"service " + s.name + " " + found->second->state + " -> " + s.state, severity_of_state(s.state)});
  }
  if (auto evicted = growth(before.cache.evictions, after.cache.evictions))
    out.push_back({"cache evicted " + plural(evicted, "entry", "entries"), severity::info});
  // Last: the health follows from the changes above, which say why.
  if (before.health != after.health)
    out.push_back({"health " + before.health + " -> " + after.health, severity_of_state(after.health)});
  return out;
}

void model::record(change c, std::int64_t wall_ms) {
  c.at_ms = wall_ms;
  changes_.push_back(std::move(c));
  while (changes_.size() > kept_changes)
    changes_.pop_front();
}

void model::on_status(const json::value& data, clock::time_point at, std::int64_t wall_ms) {
  auto now = parse_status(data);
  if (latest_at_ && latest_) {
    double seconds = std::chrono::duration<double>(at - *latest_at_).count();
    auto& was = *latest_;
    rates_ = {per_second(was.loads, now.loads, seconds),
              per_second(was.unloads, now.unloads, seconds),
              per_second(was.evictions, now.evictions, seconds),
              per_second(was.cache.hits, now.cache.hits, seconds),
              per_second(was.cache.misses, now.cache.misses, seconds),
              per_second(was.cache.bytes_read, now.cache.bytes_read, seconds),
              per_second(was.requests, now.requests, seconds),
              per_second(was.failed_requests, now.failed_requests, seconds),
              per_second(was.failed_loads, now.failed_loads, seconds)};
    for (auto& c : changes_between(was, now))
      record(std::move(c), wall_ms);
  }
  latest_ = std::move(now);
  latest_at_ = at;
  latest_wall_ms_ = wall_ms;
}

void model::on_connected(const std::string& server, std::int64_t wall_ms) {
  latest_at_.reset();
  rates_ = {};
  record({"connected to modeld at " + server, severity::info}, wall_ms);
}

void model::on_disconnected(const std::string& reason, std::int64_t wall_ms) {
  latest_at_.reset();
  rates_ = {};
  record({"connection lost: " + reason, severity::error}, wall_ms);
}

} // namespace modeld::ctl::top
