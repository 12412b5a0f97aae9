// modeld's start flags (PROTOCOL.md, "Starting the server") and their checks. A bad flag,
// an unusable model root or data dir, or a malformed device spec is one line for stderr.
#pragma once

#include "actors/log.hpp"
#include "actors/worker_pool.hpp"
#include "gpu/device_spec.hpp"
#include "protocol/limits.hpp"
#include "runtime/flag_values.hpp"
#include "runtime/node_options.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace modeld::runtime {

struct options {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 7311;
  std::optional<listen_address> metrics_listen; // --metrics-listen: GET /metrics served there
  std::vector<std::string> model_roots;
  std::string data_dir = "modeld-data";
  gpu::device_spec devices;
  std::uint64_t cache_size_bytes = 4ull << 30;
  std::optional<std::string> auth_token;
  bool fault_injection = false;
  unsigned io_threads = 1;
  unsigned actor_threads = 1;
  std::uint32_t status_deadline_ms = 250;
  actors::pool_sizes pools;
  protocol::server_limits limits;
  // The memory policy's defaults for loads that do not say (post_model_load's keep_alive_ms
  // and evict; the eviction rule, gpu/eviction_policy.hpp).
  std::int64_t default_keep_alive_ms = -1; // -1: kept until unloaded
  bool auto_evict = false;
  bool share_components = true;
  std::string eviction_policy = "cost";
  log::level log_level = log::level::info;
  log::format log_format = log::format::text;
  node_options node; // --node-name, --node-listen, --join, --node-secret-file
};

// Either the options, or {exit code, text}: 0 with help/version text for stdout, 2 with one
// error line for stderr.
struct early_exit {
  int code;
  std::string text;
};

std::variant<options, early_exit> parse_options(int argc, const char* const* argv);

} // namespace modeld::runtime
