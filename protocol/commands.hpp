// The command table: every command of PROTOCOL.md, and for each what answers it. Commands
// the connection answers itself (hello, ping, cancel, subscriptions) have no handler.
#pragma once

#include "actors/actors.hpp"
#include "actors/bridge.hpp"
#include "actors/cache.hpp"
#include "actors/catalog_board.hpp"
#include "actors/registry.hpp"
#include "actors/service_registry.hpp"
#include "protocol/envelope.hpp"
#include "protocol/leases.hpp"
#include "protocol/request_metrics.hpp"
#include "protocol/status_answers.hpp"

#include <asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <caf/timespan.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace modeld::protocol {

// The memory policy's server defaults for loads that do not say (--default-keep-alive-ms,
// --auto-evict, --eviction-policy), and whether devices share components (--share-components).
struct memory_defaults {
  std::int64_t keep_alive_ms = -1;
  bool auto_evict = false;
  std::string eviction_rule = "cost";
  bool share_components = true;
};

// What command handlers may reach: the actors (through the bridge) and fixed server facts.
struct service_context {
  actors::actor_bridge& bridge;
  std::shared_ptr<const actors::device_registry> registry;
  std::shared_ptr<const actors::service_registry> services; // store, cache, validation: look up at each use
  actors::scanner_actor scanner;
  actors::use_case_actor use_cases; // load, unload, benchmark, cache reads, validation
  std::shared_ptr<const actors::cache_board> cache_board;
  std::shared_ptr<const actors::catalog_board> catalog; // get_models, get_model: never ask the store
  std::vector<std::string> model_roots; // canonical
  std::optional<std::string> auth_token;
  bool fault_injection_enabled = false;
  actors::worker_pools::gauges pool_gauges{};
  std::atomic<std::uint64_t> next_ticket{1};
  status_texts statuses{}; // status answers, serialized once per change
  request_metrics requests{}; // counted where each request is answered; read by GET /metrics
  lease_registry leases{};    // every lease given, by id: whose connection to tell of a revocation
  memory_defaults memory{};

  status_sources status_from() const { return {registry, services, cache_board, pool_gauges, &requests}; }
};

// An answer's data already serialized in the connection's key style (status answers, shared
// by every connection that asks while nothing changed).
struct serialized_data {
  std::shared_ptr<const std::string> json;
};

using command_result = std::variant<boost::json::value, protocol_error, serialized_data>;
using command_handler = asio::awaitable<command_result> (*)(service_context&, request&);
// Answers from published state without waiting on anything: run inline, as ping is.
using instant_handler = command_result (*)(service_context&, const request&, key_case);

struct command_entry {
  std::string_view name;
  command_handler handler = nullptr; // null (and no instant handler): answered by the session
  // A change that may still take effect after the request was answered TIMEOUT or CANCELLED
  // (the actor already holds it); such answers carry details.outcome "unknown".
  bool changes_state = false;
  instant_handler instant = nullptr;
};

// nullptr when `name` is no command of the protocol.
const command_entry* find_command(std::string_view name);

// Every command, for hello's capabilities[].
std::vector<std::string_view> capabilities();
// Where `command` (an entry find_command returned) stands in capabilities().
std::size_t command_index(const command_entry& command);

inline constexpr std::string_view server_version = "0.1.0";
inline constexpr int protocol_version = 1;

} // namespace modeld::protocol
