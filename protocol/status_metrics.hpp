// The metrics of published status, read from the same sources as get_model_status (the device
// registry and board, the cache board, the services' registry): no actor is asked, so a scrape
// is answered at once whatever the devices do. Device metrics follow status's rules: an
// unresponsive device shows its last report, a restarting or failed one has no used memory
// (the series is absent) and no models; counters are carried across device restarts.
#pragma once

#include "metrics/exposition.hpp"
#include "protocol/status_answers.hpp"

#include <vector>

namespace modeld::protocol {

// modeld_device_memory_bytes, modeld_device_state, modeld_device_restarts_total,
// modeld_loaded_models, modeld_load_seconds, modeld_evictions_total, modeld_cache_bytes,
// modeld_cache_hits_total, modeld_cache_misses_total and modeld_service_state, now.
std::vector<metrics::family> status_families(const status_sources& sources);

} // namespace modeld::protocol
