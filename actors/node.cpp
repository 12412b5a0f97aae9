#include "actors/node.hpp"

#include "actors/epoch.hpp"
#include "actors/errors.hpp"
#include "actors/secrets.hpp"
#include "actors/status_view.hpp"

#include <caf/io/middleman.hpp>
#include <caf/node_id.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

namespace modeld::actors {

namespace {

caf::error wrong_secret() {
  return make_error(errc::invalid_request, "the node secret does not match this node's (--node-secret-file)");
}

// Loads and benchmarks other nodes asked for, while they run: the requester's node and ticket
// -> the ticket here (apart from those of this node's own front end), so a drop finds them.
class peer_tickets {
public:
  using key = std::pair<std::string, std::uint64_t>;
  std::uint64_t start(const key& theirs) { return running_[theirs] = ++next_; }
  void finish(const key& theirs) { running_.erase(theirs); }
  std::optional<std::uint64_t> find(const key& theirs) const {
    auto found = running_.find(theirs);
    return found == running_.end() ? std::nullopt : std::optional{found->second};
  }

private:
  std::uint64_t next_ = std::uint64_t{1} << 62;
  std::map<key, std::uint64_t> running_;
};

// Leases that loads of other nodes took here, by the actor that asked for them.
class peer_leases {
public:
  // True for the first lease of `requester` (then it is to be monitored).
  bool add(const caf::actor_addr& requester, const std::string& lease_id) {
    auto& held = held_[requester];
    held.insert(lease_id);
    return held.size() == 1;
  }
  void remove(const std::string& lease_id) {
    for (auto& [requester, held] : held_)
      held.erase(lease_id);
  }
  std::set<std::string> take(const caf::actor_addr& requester) {
    auto found = held_.find(requester);
    if (found == held_.end())
      return {};
    auto held = std::move(found->second);
    held_.erase(found);
    return held;
  }

private:
  std::map<caf::actor_addr, std::set<std::string>> held_;
};

// The node that sent the message being handled.
std::string sender_node(node_actor::pointer self) {
  const auto& sender = self->current_sender();
  return sender ? caf::to_string(sender->node()) : std::string{};
}

// Progress sent to `relay`, an actor of the requesting node; none without one.
gpu::progress_callback relayed_to(caf::actor relay) {
  if (!relay)
    return {};
  return [relay](std::uint64_t done, std::uint64_t total, const std::string& stage) {
    caf::anon_send(relay, progress_atom::value, done, total, stage);
  };
}

gpu::progress_callback& progress_of(load_request& request) { return request.progress; }
gpu::progress_callback& progress_of(benchmark_command& command) { return command.request.progress; }

// A load or benchmark asked by another node, run by this node's use cases under a ticket of its
// own, its progress sent to `relay`; `answered` sees the result before the requester does.
template <class Result, class Atom, class Request, class Answered = void (*)(const Result&)>
caf::result<Result> run_for_peer(node_actor::pointer self, const std::shared_ptr<peer_tickets>& tickets,
                                 const use_case_actor& use_cases, Atom atom, Request& request, caf::actor relay,
                                 Answered answered = [](const Result&) {}) {
  peer_tickets::key theirs{sender_node(self), request.ticket};
  request.ticket = tickets->start(theirs);
  progress_of(request) = relayed_to(std::move(relay));
  auto promise = self->make_response_promise<Result>();
  self->request(use_cases, caf::infinite, atom, std::move(request))
    .then(
      [tickets, theirs, promise, answered](Result& result) mutable {
        tickets->finish(theirs);
        answered(result);
        promise.deliver(std::move(result));
      },
      [tickets, theirs, promise](caf::error& error) mutable {
        tickets->finish(theirs);
        promise.deliver(std::move(error));
      });
  return promise;
}

// A request handed to this node's use cases as it came, once its secret is right.
template <class Result, class Atom, class Request>
caf::result<Result> handed_on(node_actor::pointer self, bool admitted, const use_case_actor& use_cases, Atom atom,
                              Request& request) {
  if (!admitted)
    return wrong_secret();
  return self->delegate(use_cases, atom, std::move(request));
}

} // namespace

node_actor::behavior_type node(node_actor::pointer self, std::string node_name, std::string secret,
                               std::shared_ptr<const device_registry> registry,
                               std::shared_ptr<const cache_board> cache, use_case_actor use_cases) {
  auto tickets = std::make_shared<peer_tickets>();
  auto leases = std::make_shared<peer_leases>();
  self->set_down_handler([leases, use_cases](caf::down_msg& down) { // a requesting node went away
    for (const auto& lease_id : leases->take(down.source))
      caf::anon_send(use_cases, release_atom::value, release_request{lease_id, true});
  });
  auto admitted = [secret](const std::string& given) { return secret.empty() || same_secret(given, secret); };
  return {
    [node_name, admitted, registry, cache](status_atom, const std::string& given) -> caf::result<node_report> {
      if (!admitted(given))
        return wrong_secret();
      node_report report{node_name, read_local_status(*registry, {}, epoch_ms()), {}};
      auto cached = cache->read(); // held while read: the board may publish a new report meanwhile
      for (const auto& entry : cached->entries)
        report.cached_models.push_back(entry.model_id);
      return report;
    },
    [self, admitted, tickets, leases, use_cases](load_atom, const std::string& given, load_request& request,
                                                 caf::actor& relay) -> caf::result<load_result> {
      if (!admitted(given))
        return wrong_secret();
      auto lease = request.policy.lease;
      auto requester = self->current_sender();
      return run_for_peer<load_result>(self, tickets, use_cases, load_atom::value, request, std::move(relay),
                                       [self, leases, lease, requester](const load_result& result) {
                                         if (result.ok && lease && requester &&
                                             leases->add(caf::actor_cast<caf::actor_addr>(requester), lease->lease_id))
                                           self->monitor(requester);
                                       });
    },
    [self, admitted, leases, use_cases](release_atom, const std::string& given,
                                        release_request& request) -> caf::result<release_result> {
      if (!admitted(given))
        return wrong_secret();
      leases->remove(request.lease_id);
      request.this_node_only = true;
      return self->delegate(use_cases, release_atom::value, std::move(request));
    },
    [self, admitted, tickets, use_cases](benchmark_atom, const std::string& given, benchmark_command& command,
                                         caf::actor& relay) -> caf::result<benchmark_result> {
      if (!admitted(given))
        return wrong_secret();
      return run_for_peer<benchmark_result>(self, tickets, use_cases, benchmark_atom::value, command, std::move(relay));
    },
    [self, admitted, tickets, use_cases](drop_atom, const std::string& given, std::uint64_t ticket) {
      if (!admitted(given))
        return;
      if (auto ours = tickets->find({sender_node(self), ticket}))
        self->send(use_cases, drop_atom::value, *ours);
    },
    [self, admitted, use_cases](unload_atom, const std::string& given,
                                unload_request& request) -> caf::result<unload_result> {
      if (!admitted(given))
        return wrong_secret();
      request.this_node_only = true; // nodes that joined each other do not ask each other in turn
      return self->delegate(use_cases, unload_atom::value, std::move(request));
    },
    [self, admitted, use_cases](cached_atom atom, const std::string& given, cache_request& request) {
      return handed_on<cache_report_result>(self, admitted(given), use_cases, atom, request);
    },
    [self, admitted, use_cases](fetch_atom atom, const std::string& given, cache_request& request) {
      return handed_on<cache_fill_result>(self, admitted(given), use_cases, atom, request);
    },
    [self, admitted, use_cases](evict_atom atom, const std::string& given, cache_request& request) {
      return handed_on<cache_evict_result>(self, admitted(given), use_cases, atom, request);
    },
  };
}

namespace {

using peer_pointer = caf::stateful_actor<peer_state>*;

std::string address_of(const peer_state& state) { return state.host + ":" + std::to_string(state.port); }

// The node is away (or refused): the board says why, and the next connection waits a backoff.
void lose(peer_pointer self, const std::string& why, bool disconnect) {
  auto& state = self->state;
  state.board->lost(state.index, why, disconnect);
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
        self->state.board->heard(self->state.index, std::move(report.node_name), std::move(report.status),
                                 std::move(report.cached_models), epoch_ms());
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
        self->state.board->connected(self->state.index, remote);
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
  config.add_message_type<load_request>("modeld::load_request");
  config.add_message_type<load_result>("modeld::load_result");
  config.add_message_type<unload_request>("modeld::unload_request");
  config.add_message_type<unload_result>("modeld::unload_result");
  config.add_message_type<release_request>("modeld::release_request");
  config.add_message_type<release_result>("modeld::release_result");
  config.add_message_type<benchmark_command>("modeld::benchmark_command");
  config.add_message_type<benchmark_result>("modeld::benchmark_result");
  config.add_message_type<cache_request>("modeld::cache_request");
  config.add_message_type<cache_report_result>("modeld::cache_report_result");
  config.add_message_type<cache_fill_result>("modeld::cache_fill_result");
  config.add_message_type<cache_evict_result>("modeld::cache_evict_result");
}

} // namespace modeld::actors
