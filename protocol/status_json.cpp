#include "protocol/status_json.hpp"

#include "protocol/json_writer.hpp"

#include "actors/epoch.hpp"

#include <boost/json/array.hpp>

namespace modeld::protocol {
namespace json = boost::json;
namespace {

json::array leases_json(const std::vector<actors::lease_holder>& leases) {
  json::array out;
  for (auto& lease : leases)
    out.emplace_back(json::object{{"lease_id", lease.lease_id},
                                  {"connection", lease.connection},
                                  {"client", lease.client},
                                  {"acquired_at_ms", lease.acquired_at_ms}});
  return out;
}

json::object loaded_model_json(const actors::loaded_model& model, const std::string& device_id) {
  return {
    {"model_id", model.model_id},
    {"device_id", device_id},
    {"components", string_array(model.components)},
    {"dtype", model.dtype},
    {"bytes", model.bytes},
    {"loaded_at_ms", model.loaded_at_ms},
    {"last_used_ms", model.last_used_ms},
    {"uses", model.uses},
    {"pinned", model.pinned},
    {"priority", model.priority},
    {"keep_alive_ms", model.keep_alive_ms},
    {"expires_at", model.expires_at_ms ? json::value(*model.expires_at_ms) : json::value(nullptr)},
    {"reload_ms", model.reload_ms},
    {"leases", leases_json(model.leases)},
    {"shared_components", string_array(model.shared_components)},
  };
}

json::array shared_components_json(const std::vector<actors::shared_component>& shared) {
  json::array out;
  for (auto& copy : shared)
    out.emplace_back(json::object{{"identity", copy.identity},
                                  {"component", copy.component},
                                  {"bytes", copy.bytes},
                                  {"models", string_array(copy.models)}});
  return out;
}

json::array devices_json(const actors::cluster_status& status) {
  json::array devices;
  for (auto& report : status.devices)
    devices.emplace_back(device_report_json(report));
  return devices;
}

} // namespace

json::object device_listing(const actors::device_info& info, std::string_view state) {
  return {
    {"device_id", info.id},
    {"kind", info.kind},
    {"index", info.index},
    {"name", info.name},
    {"memory_total", info.total_bytes},
    {"memory_budget", info.budget_bytes},
    {"state", state},
  };
}

json::array nodes_json(const actors::peer_board::snapshot& peers, std::int64_t now_ms) {
  json::array nodes;
  for (const auto& peer : peers) {
    const bool reachable = actors::answering(peer, now_ms);
    nodes.emplace_back(json::object{
      {"address", peer.address},
      {"name", peer.node_name.empty() ? json::value(nullptr) : json::value(peer.node_name)},
      {"reachable", reachable},
      {"last_error", reachable ? json::value(nullptr) : json::value(peer.last_error.empty() ? "no answer" : peer.last_error)},
      {"heard_ms_ago", peer.heard_ms == 0 ? json::value(nullptr) : json::value(now_ms - peer.heard_ms)},
    });
  }
  return nodes;
}

json::array device_listings(const actors::device_registry& registry) {
  json::array devices;
  auto entries = registry.snapshot();
  auto board = registry.board()->read();
  const auto now = actors::epoch_ms();
  for (auto& entry : *entries)
    devices.emplace_back(device_listing(entry.info, actors::to_string(registry.health_now(entry, *board, now))));
  if (const auto& peers = registry.peers()) // the joined nodes' devices: ready, busy or unreachable
    for (auto& report : actors::remote_reports(*peers->read(), {}, now))
      devices.emplace_back(device_listing(report.info, report.answered ? "ready" : report.state));
  return devices;
}

json::object device_report_json(const actors::device_report& report) {
  json::object memory{{"total", report.info.total_bytes}, {"budget", report.info.budget_bytes}};
  json::array models;
  // An unresponsive device is shown as it last reported, with the report's age.
  const bool known = report.answered || report.has_last_status;
  if (known) {
    memory["used"] = report.status.used_bytes;
    memory["free"] = report.status.free_bytes;
    memory["allocator_reserve"] = report.status.allocator_reserve_bytes; // part of used; 0 on CPU devices
    // used is physical: a component several models share counts once there, in each model's
    // bytes (logical), and shared_saved is the difference.
    memory["logical"] = report.status.logical_bytes;
    memory["shared_saved"] = report.status.shared_bytes_saved;
    for (auto& model : report.status.loaded_models)
      models.emplace_back(loaded_model_json(model, report.info.id));
  }
  return {
    {"device_id", report.info.id},
    {"kind", report.info.kind},
    {"name", report.info.name},
    {"state", report.state},
    {"reachable", report.answered},
    {"status_age_ms", known ? json::value(report.status_age_ms) : json::value(nullptr)},
    {"memory", std::move(memory)},
    {"loaded_models", std::move(models)},
    {"shared_components", known ? json::value(shared_components_json(report.status.shared_components)) : json::array{}},
    {"restarts", report.restarts},
    {"last_error", report.last_error.empty() ? json::value{} : json::value(report.last_error)},
    {"statistics",
     {{"loads", report.status.loads},
      {"unloads", report.status.unloads},
      {"evictions", report.status.evictions},
      {"cache_hits", report.status.cache_hits},
      {"failed_loads", report.status.failed_loads},
      {"expirations", report.status.expirations},
      {"mean_load_time_ms", report.status.loads == 0 ? json::value(nullptr)
                                                     : json::value(report.status.load_time_ms_total /
                                                                   static_cast<double>(report.status.loads))}}},
  };
}

namespace {

// The supervised services, and the devices' health downgraded to degraded while one of them
// is restarting or failed.
json::array services_json(const actors::service_registry::entries& services) {
  json::array out;
  for (auto& entry : services)
    out.emplace_back(json::object{{"name", actors::to_string(entry.which)},
                                  {"state", actors::to_string(entry.health)},
                                  {"restarts", entry.restarts},
                                  {"last_error", entry.last_error.empty() ? json::value(nullptr)
                                                                          : json::value(entry.last_error)}});
  return out;
}

std::string health_with_services(const actors::cluster_status& status, const actors::service_registry::entries& services) {
  if (status.overall_health != "healthy")
    return status.overall_health;
  for (auto& entry : services)
    if (entry.health != actors::device_health::ready)
      return "degraded";
  return status.overall_health;
}

} // namespace

json::value device_status_json(const actors::cluster_status& status, const actors::service_registry::entries& services) {
  return json::object{{"overall_health", health_with_services(status, services)},
                      {"devices", devices_json(status)},
                      {"services", services_json(services)}};
}

json::object workers_json(const actors::worker_pools::gauges& pools) {
  auto gauge = [](const std::shared_ptr<actors::pool_gauge>& g) {
    return json::object{{"workers", g->workers.load()}, {"busy", g->busy.load()}, {"queued", g->queued.load()},
                        {"done", g->done.load()}};
  };
  return {{"loads", gauge(pools.loads)},
          {"reads", gauge(pools.reads)},
          {"benchmarks", gauge(pools.benchmarks)},
          {"frees", gauge(pools.frees)}};
}

json::object cache_json(const actors::cache_report& cache, const std::string& model_id) {
  json::array entries;
  for (auto& e : cache.entries)
    if (model_id.empty() || e.model_id == model_id)
      entries.emplace_back(json::object{{"model_id", e.model_id},
                                        {"bytes", e.bytes},
                                        {"pinned", e.pinned},
                                        {"in_use", e.in_use},
                                        {"cached_at_ms", e.cached_at_ms},
                                        {"last_used_ms", e.last_used_ms}});
  return {
    {"budget_bytes", cache.budget_bytes},
    {"used_bytes", cache.used_bytes},
    {"logical_bytes", cache.logical_bytes},
    {"shared_bytes_saved", cache.shared_bytes_saved},
    {"shared_components", shared_components_json(cache.shared_components)},
    {"entries", std::move(entries)},
    {"statistics",
     {{"hits", cache.hits}, {"misses", cache.misses}, {"evictions", cache.evictions}, {"bytes_read", cache.bytes_read}}},
  };
}

json::value model_status_json(const actors::cluster_status& status, const actors::cache_report& cache,
                              const actors::service_registry::entries& services) {
  json::array loaded;
  actors::device_status sums; // counters of every device, carried across restarts: they never go backwards
  std::uint64_t ready = 0;
  for (auto& report : status.devices) {
    actors::add_counters(sums, report.status);
    if (report.answered)
      ++ready;
    if (report.answered || report.has_last_status)
      for (auto& model : report.status.loaded_models)
        loaded.emplace_back(loaded_model_json(model, report.info.id));
  }
  return json::object{
    {"overall_health", health_with_services(status, services)},
    {"devices", devices_json(status)},
    {"services", services_json(services)},
    {"loaded_models", std::move(loaded)},
    {"statistics",
     {{"devices_total", status.devices.size()},
      {"devices_reachable", ready},
      {"loads", sums.loads},
      {"unloads", sums.unloads},
      {"evictions", sums.evictions},
      {"cache_hits", sums.cache_hits},
      {"failed_loads", sums.failed_loads},
      {"expirations", sums.expirations}}},
    {"cache", cache_json(cache)},
  };
}

} // namespace modeld::protocol
