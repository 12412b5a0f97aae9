// Nodes joined through CAF's own network layer (caf::io): a node started with --node-listen
// publishes a node actor that answers with its own devices' status; a node started with --join
// runs a peer actor per address it joined, which connects (again and again, with backoff, while
// the other node is away), asks for that status four times a second and writes it to the peer
// board (peer_board.hpp) that status reads. A node that stops answering (killed, link cut) is
// unreachable within peer_silence_ms; its devices come back when it answers again.
//
// With a node secret (--node-secret-file), every request carries it and a node answers only
// requests whose secret matches (compared in constant time).
#pragma once

#include "actors/atoms.hpp"
#include "actors/cache.hpp"
#include "actors/messages.hpp"
#include "actors/peer_board.hpp"
#include "actors/registry.hpp"
#include "actors/use_case_messages.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace modeld::actors {

// What a node says of itself: its name and its own devices (never the nodes it joined).
struct node_report {
  std::string node_name;
  cluster_status status;
  std::vector<std::string> cached_models; // in its RAM cache: placement prefers their node

  bool operator==(const node_report&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_report& x) {
  return f(caf::meta::type_name("node_report"), x.node_name, x.status, x.cached_models);
}

// Every request carries the node secret (empty without one). Loads and benchmarks carry a
// relay actor of the requesting node (null: no progress wanted) that the node sends its progress
// to, and the requester's ticket, by which it may drop them.
using node_actor = caf::typed_actor<
  // This node's own devices, from the device board.
  caf::replies_to<status_atom, std::string>::with<node_report>,
  // A load, unload or benchmark of this node's device (its local id), by this node's use cases.
  caf::replies_to<load_atom, std::string, load_request, caf::actor>::with<load_result>,
  caf::replies_to<unload_atom, std::string, unload_request>::with<unload_result>,
  // A lease the requesting node's connection gave back (or whose connection closed).
  caf::replies_to<release_atom, std::string, release_request>::with<release_result>,
  caf::replies_to<benchmark_atom, std::string, benchmark_command, caf::actor>::with<benchmark_result>,
  // This node's RAM cache: what it holds, a model read into it, models evicted.
  caf::replies_to<cached_atom, std::string, cache_request>::with<cache_report_result>,
  caf::replies_to<fetch_atom, std::string, cache_request>::with<cache_fill_result>,
  caf::replies_to<evict_atom, std::string, cache_request>::with<cache_evict_result>,
  // The requester of a load or benchmark (its ticket there) went away: the work stops.
  caf::reacts_to<drop_atom, std::string, std::uint64_t>>;

// The node actor this node publishes: status from the device board, the other requests handed
// to `use_cases` (loads and benchmarks with tickets of their own). Leases taken by another
// node's loads are given back when that node goes away (its connection drops), as a
// connection that closes gives back its own.
node_actor::behavior_type node(node_actor::pointer self, std::string node_name, std::string secret,
                               std::shared_ptr<const device_registry> registry,
                               std::shared_ptr<const cache_board> cache, use_case_actor use_cases);

// How often a peer asks, how long it waits for an answer, and its reconnect backoff.
inline constexpr std::chrono::milliseconds peer_poll_interval{250};
inline constexpr std::chrono::milliseconds peer_answer_timeout{1000};
inline constexpr std::chrono::milliseconds peer_backoff_first{250};
inline constexpr std::chrono::milliseconds peer_backoff_most{2000};

struct peer_state {
  static inline const char* name = "peer";
  std::size_t index = 0; // on the board
  std::string host;
  std::uint16_t port = 0;
  std::string secret;
  std::shared_ptr<peer_board> board;
  node_actor node;       // null while not connected
  bool connecting = false;
  bool asking = false;   // a status request is out
  std::chrono::milliseconds backoff = peer_backoff_first;
  std::chrono::steady_clock::time_point next_connect{};
};

// The peer of the node at `host`:`port`, entry `index` of `board`. Needs the middleman.
caf::behavior peer(caf::stateful_actor<peer_state>* self, std::size_t index, std::string host, std::uint16_t port,
                   std::string secret, std::shared_ptr<peer_board> board);

// Registers the messages that cross between nodes (the replies; atoms and strings need none).
void add_node_message_types(caf::actor_system_config& config);

} // namespace modeld::actors
