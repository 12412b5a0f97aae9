#include "runtime/options.hpp"

#include "gpu/byte_size.hpp"
#include "protocol/commands.hpp"
#include "runtime/config_file.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <unistd.h>

namespace modeld::runtime {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> check_model_roots(options& out) {
  for (auto& root : out.model_roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec))
      return "--model-root '" + root + "' is not a directory";
    if (access(root.c_str(), R_OK | X_OK) != 0)
      return "--model-root '" + root + "' is not readable";
    root = fs::canonical(root, ec).string();
  }
  return std::nullopt;
}

std::optional<std::string> prepare_data_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    return "--data-dir '" + dir + "' cannot be created: " + ec.message();
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return "--data-dir '" + dir + "' is not writable";
  return std::nullopt;
}

} // namespace

std::variant<options, early_exit> parse_options(int argc, const char* const* argv) {
  options out;
  // Half the cores: the other half runs the TCP front end and blocking workers.
  out.actor_threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  CLI::App app{"modeld: model-management service for GPU hosts (NDJSON over TCP)", "modeld"};
  auto* config = app.set_config("--config", "", "Read flags from a file of `name = value` lines (names without --)");
  std::string listen = "127.0.0.1:7311", metrics_listen, devices = "auto", cache_size = "4GiB", token_file;
  std::uint64_t half_line_ms = out.limits.half_line_timeout.count();
  std::uint64_t idle_ms = out.limits.idle_timeout.count();
  std::uint64_t drain_ms = out.limits.drain_grace.count();
  std::uint64_t slow_ms = out.limits.slow_request.count();
  std::string log_level = "info", log_format = "text";
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: pick one, print it)")->capture_default_str();
  app.add_option("--metrics-listen", metrics_listen,
                 "HOST:PORT serving GET /metrics in the Prometheus text format (port 0: pick one, print it)");
  app.add_option("--model-root", out.model_roots, "Directory of model files (repeatable)");
  app.add_option("--data-dir", out.data_dir, "Directory for the store and state")->capture_default_str();
  app.add_option("--devices", devices, "auto, or e.g. cpu:0=4GiB,cpu:1=4GiB,cuda:0=20GiB")->capture_default_str();
  app.add_option("--cache-size", cache_size, "RAM cache budget (KiB/MiB/GiB suffixes)")->capture_default_str();
  app.add_option("--auth-token-file", token_file, "Clients must send this file's token in hello");
  app.add_flag("--enable-fault-injection", out.fault_injection, "Allow inject_fault (testing only)");
  app.add_option("--max-frame-bytes", out.limits.max_frame_bytes, "Longest request line")
    ->check(CLI::Range(std::size_t{256}, std::size_t{1} << 30))->capture_default_str();
  app.add_option("--max-connections", out.limits.max_connections, "Connections served at once")
    ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))->capture_default_str();
  app.add_option("--max-in-flight", out.limits.max_in_flight_per_connection, "Pipelined requests per connection")
    ->check(CLI::Range(std::size_t{1}, std::size_t{65536}))->capture_default_str();
  app.add_option("--half-line-timeout-ms", half_line_ms, "Close a connection whose started line stalls this long")
    ->check(CLI::Range(std::uint64_t{10}, std::uint64_t{3600000}))->capture_default_str();
  app.add_option("--idle-timeout-ms", idle_ms, "Close a connection idle this long (0: never)")
    ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{604800000}))->capture_default_str();
  app.add_option("--drain-grace-ms", drain_ms, "How long shutdown waits for in-flight requests")
    ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{600000}))->capture_default_str();
  app.add_option("--status-deadline-ms", out.status_deadline_ms, "A device not heard from for longer is unresponsive (its heartbeat comes 4 times as often)")
    ->check(CLI::Range(1u, 60000u))->capture_default_str();
  app.add_option("--load-workers", out.pools.loads, "Loads (reads and copies into devices) that run at once")
    ->check(CLI::Range(std::size_t{1}, std::size_t{256}))->capture_default_str();
  app.add_option("--read-workers", out.pools.reads, "RAM cache reads and inspections that run at once")
    ->check(CLI::Range(std::size_t{1}, std::size_t{256}))->capture_default_str();
  app.add_option("--benchmark-workers", out.pools.benchmarks, "Benchmark runs at once")
    ->check(CLI::Range(std::size_t{1}, std::size_t{64}))->capture_default_str();
  app.add_option("--io-threads", out.io_threads, "Threads running the TCP front end")
    ->check(CLI::Range(1u, 64u))->capture_default_str();
  // No captured default: it depends on the machine, and the man page is made from this text.
  app.add_option("--actor-threads", out.actor_threads, "Threads of the actor scheduler (default: half the cores, at least 1)")
    ->check(CLI::Range(1u, 256u));
  app.add_option("--log-level", log_level, "trace, debug, info, warning or error (or off); lines go to stderr")
    ->check(CLI::IsMember({"trace", "debug", "info", "warning", "warn", "error", "off"}))->capture_default_str();
  app.add_option("--log-format", log_format, "text (key=value) or json (one object per line)")
    ->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  app.add_option("--slow-request-ms", slow_ms, "Log a request answered later than this (0: never)")
    ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{86400000}))->capture_default_str();
  app.add_option("--default-keep-alive-ms", out.default_keep_alive_ms,
                 "Unload a model unused this long, unless its load set keep_alive_ms (-1: keep until unloaded)")
    ->check(CLI::Range(std::int64_t{-1}, std::int64_t{365} * 24 * 3600 * 1000))->capture_default_str();
  app.add_flag("--auto-evict", out.auto_evict,
               "Make room for a load that does not fit by evicting, unless its load says evict: false");
  app.add_option("--eviction-policy", out.eviction_policy,
                 "How devices and the RAM cache make room: cost (least expected reload time) or lru (least recently used first)")
    ->check(CLI::IsMember({"cost", "lru"}))->capture_default_str();
  app.add_option("--share-components", out.share_components,
                 "Hold one copy per device of components that loaded models share byte for byte (VAEs, text encoders): true or false")
    ->capture_default_str();
  raw_node_flags node_flags;
  add_node_flags(app, node_flags);
  app.set_version_flag("--version", std::string{protocol::server_version});
  std::set<std::string> config_keys;
  for (const auto* option : app.get_options())
    if (option->get_configurable())
      config_keys.insert(option->get_lnames().begin(), option->get_lnames().end());
  app.config_formatter(std::make_shared<strict_config>(std::move(config_keys)));
  app.allow_config_extras(CLI::config_extras_mode::error);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    std::ostringstream text;
    app.exit(e, text, text);
    return early_exit{0, text.str()};
  } catch (const CLI::ConfigError& e) {
    return early_exit{2, "modeld: --config " + config->as<std::string>() + ": " + e.what()};
  } catch (const CLI::ParseError& e) {
    return early_exit{2, std::string{"modeld: "} + e.what()};
  }
  out.limits.half_line_timeout = std::chrono::milliseconds(half_line_ms);
  out.limits.idle_timeout = std::chrono::milliseconds(idle_ms);
  out.limits.drain_grace = std::chrono::milliseconds(drain_ms);
  out.limits.slow_request = std::chrono::milliseconds(slow_ms);
  out.log_level = *log::parse_level(log_level); // checked above
  out.log_format = *log::parse_format(log_format);
  auto address = parse_listen("--listen", listen);
  if (auto* error = std::get_if<std::string>(&address))
    return early_exit{2, "modeld: " + *error};
  out.listen_host = std::get<listen_address>(address).host;
  out.listen_port = std::get<listen_address>(address).port;
  if (!metrics_listen.empty()) {
    auto metrics = parse_listen("--metrics-listen", metrics_listen);
    if (auto* error = std::get_if<std::string>(&metrics))
      return early_exit{2, "modeld: " + *error};
    out.metrics_listen = std::get<listen_address>(metrics);
  }
  auto spec = gpu::parse_device_spec(devices);
  if (auto* error = std::get_if<std::string>(&spec))
    return early_exit{2, "modeld: --devices: " + *error};
  out.devices = std::get<gpu::device_spec>(spec);
  auto cache = gpu::parse_byte_size(cache_size);
  if (!cache)
    return early_exit{2, "modeld: --cache-size '" + cache_size + "' is not a size like 4GiB"};
  out.cache_size_bytes = *cache;
  if (auto error = check_model_roots(out))
    return early_exit{2, "modeld: " + *error};
  if (auto error = prepare_data_dir(out.data_dir))
    return early_exit{2, "modeld: " + *error};
  if (!token_file.empty()) {
    std::string token;
    if (auto error = read_secret_line("--auth-token-file", token_file, token))
      return early_exit{2, "modeld: " + *error};
    out.auth_token = token;
  }
  if (auto error = finish_node_options(node_flags, out.node))
    return early_exit{2, "modeld: " + *error};
  return out;
}

} // namespace modeld::runtime
