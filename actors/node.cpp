#include "actors/node.hpp"

#include "actors/epoch.hpp"
#include "actors/errors.hpp"
#include "actors/secrets.hpp"
#include "actors/status_view.hpp"

#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>

#include <algorithm>
#include <set>

namespace modeld::actors {

node_actor::behavior_type node(node_actor::pointer, std::string node_name, std::string secret,
                               std::shared_ptr<const device_registry> registry) {
  return {
    [node_name, secret, registry](status_atom, const std::string& given) -> caf::result<node_report> {
      if (!secret.empty() && !same_secret(given, secret))
        return make_error(errc::invalid_request, "the node secret does not match this node's (--node-secret-file)");
      return node_report{node_name, read_local_status(*registry, {}, epoch_ms())};
    },
  };
}

namespace {

using peer_pointer = caf::stateful_actor<peer_state>*;

std::string address_of(const peer_state& state) { return state.host + ":" + std::to_string(state.port); }

// The node is away (or refused): the board says why, and the next connection waits a backoff.
void lose(peer_pointer self, const std::string& why, bool disconnect) {
  auto& state = self->state;
  state.board->lost(state.index, why);
  if (!disconnect)
    return;
  if (state.node)
    self->demonitor(state.node.address());
  state.node = nullptr;
  state.next_connect = std::chrono::steady_clock::now() + state.backoff;
  state.backoff = std::min(state.backoff * 2, peer_backoff_most);
}

void ask(peer_pointer self) {
  auto& state = self->state;
  if (state.asking)
    return;
  state.asking = true;
  self->request(state.node, peer_answer_timeout, status_atom::value, state.secret)
    .then(
      [self](node_report& report) {
        self->state.asking = false;
        self->state.backoff = peer_backoff_first;
        self->state.board->heard(self->state.index, std::move(report.node_name), std::move(report.status), epoch_ms());
      },
      [self](caf::error& error) {
        self->state.asking = false;
        lose(self, "its status did not come: " + self->system().render(error), false);
      });
}

void connect(peer_pointer self) {
  auto& state = self->state;
  state.connecting = true;
  auto middleman = self->system().middleman().actor_handle();
  self->request(middleman, peer_answer_timeout * 2, caf::connect_atom::value, state.host, state.port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& remote, const std::set<std::string>&) {
        self->state.connecting = false;
        if (!remote)
          return lose(self, "nothing is published at " + address_of(self->state), true);
        self->state.node = caf::actor_cast<node_actor>(remote);
        self->monitor(self->state.node);
        ask(self);
      },
      [self](caf::error& error) {
        self->state.connecting = false;
        lose(self, "cannot connect to " + address_of(self->state) + ": " + self->system().render(error), true);
      });
}

} // namespace

caf::behavior peer(peer_pointer self, std::size_t index, std::string host, std::uint16_t port, std::string secret,
                   std::shared_ptr<peer_board> board) {
  auto& state = self->state;
  state.index = index;
  state.host = std::move(host);
  state.port = port;
  state.secret = std::move(secret);
  state.board = std::move(board);
  self->set_down_handler([self](caf::down_msg& down) {
    if (down.source == caf::actor_cast<caf::actor_addr>(self->state.node))
      lose(self, "the connection closed: " + self->system().render(down.reason), true);
  });
  self->send(self, heartbeat_atom::value);
  return {
    [self](heartbeat_atom) {
      auto& state = self->state;
      if (state.node)
        ask(self);
      else if (!state.connecting && std::chrono::steady_clock::now() >= state.next_connect)
        connect(self);
      self->delayed_send(self, peer_poll_interval, heartbeat_atom::value);
    },
  };
}

void add_node_message_types(caf::actor_system_config& config) {
  config.add_message_type<node_report>("modeld::node_report");
}

} // namespace modeld::actors
