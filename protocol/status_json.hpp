// JSON shapes of device and status answers (PROTOCOL.md: get_model_status,
// get_device_status, get_device_list, hello's devices).
#pragma once

#include "actors/device_messages.hpp"
#include "actors/messages.hpp"
#include "actors/registry.hpp"
#include "actors/service_registry.hpp"
#include "actors/worker_pool.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace modeld::protocol {

// A device as listed by get_device_list and hello: identity, memory size, current health.
boost::json::object device_listing(const actors::device_info& info, std::string_view state);
// The nodes this one joined (--join): {address, name, reachable, last_error, heard_ms_ago}.
boost::json::array nodes_json(const actors::peer_board::snapshot& peers, std::int64_t now_ms);
// Every device, listed with its health now.
boost::json::array device_listings(const actors::device_registry& registry);

// One device in get_device_status / get_model_status.
boost::json::object device_report_json(const actors::device_report& report);

// Both list the supervised services ({name, state, restarts, last_error}); overall_health is
// degraded while one of them is restarting or failed.
boost::json::value device_status_json(const actors::cluster_status& status,
                                      const actors::service_registry::entries& services);
boost::json::value model_status_json(const actors::cluster_status& status, const actors::cache_report& cache,
                                     const actors::service_registry::entries& services);

// The worker pools: {loads, reads, benchmarks, frees}, each {workers, busy, queued, done}.
boost::json::object workers_json(const actors::worker_pools::gauges& pools);

// get_model_cache: {budget_bytes, used_bytes, entries[], statistics{hits, misses, evictions,
// bytes_read}}, entries of one model only when `model_id` is set.
boost::json::object cache_json(const actors::cache_report& cache, const std::string& model_id = {});

} // namespace modeld::protocol
