#include "actors/use_case_routes.hpp"

#include "actors/epoch.hpp"
#include "actors/cache.hpp"
#include "actors/cluster_placement.hpp"
#include "actors/node.hpp"
#include "actors/status_view.hpp"

#include <algorithm>
#include <memory>
#include <set>

namespace modeld::actors {
namespace {

// The route of `device_id` when it names a joined node's device.
std::optional<peer_route> route_of(use_case_pointer self, const std::string& device_id) {
  const auto& peers = self->state.devices->peers();
  if (!peers || device_id.empty())
    return std::nullopt;
  return route_to(*peers->read(), device_id, epoch_ms());
}

std::string on_node(const peer_route& route, const std::string& device_id) { return route.node_name + "/" + device_id; }

// `why` as this node tells it: the device it names carries the node's name.
failure from_node(const peer_route& route, failure why) {
  if (auto device = why.context.find("device_id"); device != why.context.end())
    device->second = on_node(route, device->second);
  return why;
}

// What a failure to reach the node of `route` is about: the device, or the node itself.
failure about_route(const peer_route& route, failure why) {
  if (route.device_id.empty())
    return std::move(why).about("node", route.node_name);
  return std::move(why).about("device_id", on_node(route, route.device_id));
}

// The progress `request` asks for (stream: true), if any.
const gpu::progress_callback* progress_of(const load_request& request) { return &request.progress; }
const gpu::progress_callback* progress_of(const benchmark_command& command) { return &command.request.progress; }
template <class Request>
const gpu::progress_callback* progress_of(const Request&) {
  return nullptr;
}

// An actor of this node that passes the progress a node reports to `progress`; null when none is
// wanted. It lives until the request is answered.
caf::actor progress_relay(use_case_pointer self, const gpu::progress_callback* progress) {
  if (progress == nullptr || !*progress)
    return {};
  return self->spawn([report = *progress](caf::event_based_actor*) -> caf::behavior {
    return {[report](progress_atom, std::uint64_t done, std::uint64_t total, const std::string& stage) {
      report(done, total, stage);
    }};
  });
}

// Sends `request` to the node of `route` (a device's request with the device's id there), then
// `answered` with the node's answer, its device ids made NAME/ID by `rename`. A node that is
// unreachable, or goes away while it holds the request, is answered for. Loads and benchmarks
// carry a progress relay, and a drop of their ticket is passed on to the node.
template <class Result, class Atom, class Request, class Rename, class Answered>
void ask_node(use_case_pointer self, const peer_route& route, Atom atom, Request request, Rename rename,
              Answered answered) {
  if (!route.node)
    return answered(refused_with<Result>(about_route(route, failure{errc::device_unavailable, route.unreachable})));
  if constexpr (requires { request.device_id; })
    if (!route.device_id.empty())
      request.device_id = route.device_id;
  auto node = caf::actor_cast<node_actor>(route.node);
  const auto& secret = self->state.devices->peers()->secret();
  auto relay = progress_relay(self, progress_of(request));
  std::optional<std::uint64_t> ticket;
  if constexpr (requires { request.ticket; }) {
    ticket = request.ticket;
    self->state.working[request.ticket] = [self, node, secret, ticket = request.ticket] {
      self->send(node, drop_atom::value, secret, ticket);
    };
  }
  auto done = [self, relay, ticket, answered](Result answer) {
    if (relay)
      caf::anon_send_exit(relay, caf::exit_reason::normal);
    if (ticket)
      forget(self, *ticket);
    answered(std::move(answer));
  };
  auto on_answer = [route, rename, done](Result& answer) {
    error_of(answer) = from_node(route, std::move(error_of(answer)));
    rename(answer);
    done(std::move(answer));
  };
  auto on_error = [self, route, done](const caf::error& error) {
    auto why = failure_of(error, "asking node " + route.node_name);
    if (why.code == errc::internal) // the node went away, or could not take the request
      why = failure{errc::device_unavailable,
                    "node " + route.node_name + " did not complete the request: " + self->system().render(error)};
    done(refused_with<Result>(about_route(route, std::move(why))));
  };
  if constexpr (requires { request.ticket; })
    watched_request<Result>(self, node, caf::infinite, on_answer, on_error, atom, secret, std::move(request), relay);
  else
    watched_request<Result>(self, node, caf::infinite, on_answer, on_error, atom, secret, std::move(request));
}

// ask_node, answered through a response promise.
template <class Result, class Atom, class Request, class Rename>
caf::result<Result> send_to_node(use_case_pointer self, const peer_route& route, Atom atom, Request request,
                                 Rename rename) {
  auto promise = std::make_shared<caf::typed_response_promise<Result>>(self->make_response_promise<Result>());
  ask_node<Result>(self, route, atom, std::move(request), rename,
                   [promise](Result answer) { promise->deliver(std::move(answer)); });
  return *promise;
}

// A load's device ids as this node shows them.
void rename_load(const peer_route& route, load_result& answer) {
  if (!answer.done.device_id.empty())
    answer.done.device_id = on_node(route, answer.done.device_id);
}

// A load placed across nodes: the choices in order, tried until one loads or answers other
// than MODEL_NOT_FOUND (then the next node's choices are tried; each node once).
struct placed_load {
  load_request request;
  std::vector<placement_choice> choices;
  std::size_t next = 0;
  std::set<std::string> without_model; // nodes that answered MODEL_NOT_FOUND ("" for this one)
  std::optional<load_result> last;     // the last answer, for when no choice is left
  caf::typed_response_promise<load_result> promise;
};

void try_next_choice(use_case_pointer self, const std::shared_ptr<placed_load>& load) {
  auto& choices = load->choices;
  while (load->next < choices.size() && load->without_model.count(choices[load->next].node) > 0)
    ++load->next;
  if (load->next == choices.size()) {
    load->promise.deliver(load->last ? std::move(*load->last)
                                     : refused_with<load_result>({errc::device_unavailable, "no device is ready"}));
    return;
  }
  auto choice = choices[load->next++];
  auto answered = [self, load, choice](load_result answer) {
    if (!answer.ok && answer.error.code == errc::model_not_found) {
      load->without_model.insert(choice.node);
      load->last = std::move(answer);
      return try_next_choice(self, load);
    }
    if (answer.ok) {
      answer.placement_reason = choice.reason;
      for (const auto& node : load->without_model)
        answer.placement_reason += "; " + (node.empty() ? std::string{"this node"} : "node " + node) +
                                   " has no such model";
    }
    load->promise.deliver(std::move(answer));
  };
  auto request = load->request;
  request.device_id = choice.device_id;
  if (choice.node.empty()) { // this node's device: the load as if the request had named it
    self->request(caf::actor_cast<use_case_actor>(self), caf::infinite, load_atom::value, std::move(request))
      .then([answered](load_result& answer) { answered(std::move(answer)); },
            [answered](caf::error& error) { answered(refused_with<load_result>(failure_of(error, "loading"))); });
    return;
  }
  auto route = route_of(self, choice.device_id);
  if (!route) // the node left between the listing and now
    return answered(refused_with<load_result>({errc::device_unavailable, "device " + choice.device_id + " is gone"}));
  ask_node<load_result>(self, *route, load_atom::value, std::move(request),
                        [route](load_result& answer) { rename_load(*route, answer); }, answered);
}

// A load that names no device, placed across this node's and the joined nodes' devices.
caf::result<load_result> place_across_nodes(use_case_pointer self, const load_request& request) {
  auto status = read_status(*self->state.devices, {}, epoch_ms());
  std::set<std::string> caching;
  // Snapshots held while read: their boards may publish new ones meanwhile.
  auto cache = self->state.cache->read();
  auto peers = self->state.devices->peers()->read();
  for (const auto& entry : cache->entries)
    if (entry.model_id == request.model_id)
      caching.insert("");
  for (const auto& peer : *peers)
    if (std::find(peer.cached_models.begin(), peer.cached_models.end(), request.model_id) != peer.cached_models.end())
      caching.insert(peer.node_name);
  std::optional<std::uint64_t> bytes;
  auto catalog = self->state.catalog->read();
  if (auto record = catalog->models.find(request.model_id); record != catalog->models.end())
    bytes = record->second->entry.size_bytes;
  auto load = std::make_shared<placed_load>(
    placed_load{request, placement_order(status, caching, bytes), 0, {}, std::nullopt,
                self->make_response_promise<load_result>()});
  try_next_choice(self, load);
  return load->promise;
}

} // namespace

std::optional<caf::result<load_result>> load_on_node(use_case_pointer self, const load_request& request) {
  if (request.device_id.empty() && !request.policy.lease && self->state.devices->peers())
    return place_across_nodes(self, request);
  auto route = route_of(self, request.device_id);
  if (!route)
    return std::nullopt;
  return send_to_node<load_result>(self, *route, load_atom::value, request,
                                   [route](load_result& answer) { rename_load(*route, answer); });
}

namespace {

// An unload's device ids as this node shows them.
void rename_unload(const peer_route& route, unload_result& answer) {
  for (auto& device : answer.devices)
    device.device_id = on_node(route, device.device_id);
  for (auto* leases : {&answer.kept, &answer.revoked})
    for (auto& lease : *leases)
      lease.device_id = on_node(route, lease.device_id);
}

// An unload of every device of every node: this node's answer first, then each answering node's.
struct spread_unload {
  unload_request request;
  std::vector<std::optional<unload_result>> answers; // [0]: this node's
  std::size_t pending = 0;
  caf::typed_response_promise<unload_result> promise;
};

// One answer for all: their devices and leases together; a named model leased anywhere is a
// conflict, one loaded nowhere is not loaded. A node that failed (gone meanwhile) adds nothing;
// this node's own failure of another kind is the answer.
unload_result merged(spread_unload& unload) {
  auto& own = *unload.answers.front();
  if (!own.ok && own.error.code != errc::model_not_loaded && own.error.code != errc::conflict)
    return own;
  unload_result out;
  for (auto& answer : unload.answers) {
    if (!answer || (!answer->ok && answer->error.code != errc::model_not_loaded && answer->error.code != errc::conflict))
      continue;
    for (auto& device : answer->devices)
      out.devices.push_back(std::move(device));
    out.kept.insert(out.kept.end(), answer->kept.begin(), answer->kept.end());
    out.revoked.insert(out.revoked.end(), answer->revoked.begin(), answer->revoked.end());
  }
  const auto& id = unload.request.model_id;
  bool any = false;
  for (const auto& device : out.devices)
    any = any || !device.unloaded.empty();
  if (!id.empty() && !out.kept.empty()) {
    out.error = leased_conflict(id, out.kept.size());
    return out;
  }
  if (!id.empty() && !any)
    return refused_with<unload_result>(failure{errc::model_not_loaded, "'" + id + "' is not loaded"}.about("model_id", id));
  out.ok = true;
  return out;
}

caf::result<unload_result> unload_everywhere(use_case_pointer self, const unload_request& request) {
  auto unload = std::make_shared<spread_unload>(
    spread_unload{request, {std::nullopt}, 1, self->make_response_promise<unload_result>()});
  auto answered_at = [self, unload](std::size_t slot) {
    return [self, unload, slot](unload_result answer) {
      unload->answers[slot] = std::move(answer);
      if (--unload->pending == 0)
        unload->promise.deliver(merged(*unload));
    };
  };
  for (const auto& route : answering_nodes(*self->state.devices->peers()->read(), epoch_ms())) {
    unload->answers.emplace_back();
    ++unload->pending;
    ask_node<unload_result>(self, route, unload_atom::value, request,
                            [route](unload_result& answer) { rename_unload(route, answer); },
                            answered_at(unload->answers.size() - 1));
  }
  auto own = request;
  own.this_node_only = true;
  self->request(caf::actor_cast<use_case_actor>(self), caf::infinite, unload_atom::value, std::move(own))
    .then([answer = answered_at(0)](unload_result& result) { answer(std::move(result)); },
          [answer = answered_at(0)](caf::error& error) {
            answer(refused_with<unload_result>(failure_of(error, "unloading")));
          });
  return unload->promise;
}

} // namespace

std::optional<caf::result<unload_result>> unload_on_node(use_case_pointer self, const unload_request& request) {
  if (request.device_id.empty() && !request.this_node_only && self->state.devices->peers())
    return unload_everywhere(self, request);
  auto route = route_of(self, request.device_id);
  if (!route)
    return std::nullopt;
  return send_to_node<unload_result>(self, *route, unload_atom::value, request,
                                     [route](unload_result& answer) { rename_unload(*route, answer); });
}

std::optional<caf::result<benchmark_result>> benchmark_on_node(use_case_pointer self, const benchmark_command& command) {
  auto route = route_of(self, command.device_id);
  if (!route)
    return std::nullopt;
  return send_to_node<benchmark_result>(self, *route, benchmark_atom::value, command, [route](benchmark_result& answer) {
    if (!answer.reply.device_id.empty())
      answer.reply.device_id = on_node(*route, answer.reply.device_id);
  });
}

namespace {

// A release asked of the joined nodes in turn.
struct spread_release {
  release_request request;
  std::vector<peer_route> nodes;
  std::size_t next = 0;
  caf::typed_response_promise<release_result> promise;
};

void release_next_node(use_case_pointer self, const std::shared_ptr<spread_release>& release) {
  if (release->next == release->nodes.size()) {
    release->promise.deliver(release_result{});
    return;
  }
  const auto& route = release->nodes[release->next++];
  ask_node<release_result>(self, route, release_atom::value, release->request,
                           [route](release_result& answer) {
                             if (!answer.device_id.empty())
                               answer.device_id = on_node(route, answer.device_id);
                           },
                           [self, release](release_result answer) {
                             if (answer.released)
                               release->promise.deliver(std::move(answer));
                             else // not there, or that node is away
                               release_next_node(self, release);
                           });
}

} // namespace

void release_on_nodes(use_case_pointer self, const std::string& lease_id,
                      caf::typed_response_promise<release_result> promise) {
  auto release = std::make_shared<spread_release>(spread_release{{lease_id, true}, {}, 0, std::move(promise)});
  if (const auto& peers = self->state.devices->peers())
    release->nodes = answering_nodes(*peers->read(), epoch_ms());
  release_next_node(self, release);
}

namespace {

// A RAM cache command sent to the joined node `request.node`, which answers for its own cache.
template <class Result, class Atom>
caf::result<Result> cache_command_on_node(use_case_pointer self, Atom atom, cache_request request) {
  const auto& peers = self->state.devices->peers();
  auto route = peers ? route_to_node(*peers->read(), request.node, epoch_ms()) : std::nullopt;
  if (!route)
    return refused_with<Result>(
      failure{errc::invalid_request, "no joined node is named '" + request.node + "' (status nodes[] lists them)"}
        .about("node", request.node));
  request.node.clear(); // its own cache, there
  return send_to_node<Result>(self, *route, atom, std::move(request), [](Result&) {});
}

} // namespace

caf::result<cache_report_result> cache_report_on_node(use_case_pointer self, cache_request request) {
  return cache_command_on_node<cache_report_result>(self, cached_atom::value, std::move(request));
}

caf::result<cache_fill_result> cache_fill_on_node(use_case_pointer self, cache_request request) {
  return cache_command_on_node<cache_fill_result>(self, fetch_atom::value, std::move(request));
}

caf::result<cache_evict_result> cache_evict_on_node(use_case_pointer self, cache_request request) {
  return cache_command_on_node<cache_evict_result>(self, evict_atom::value, std::move(request));
}

} // namespace modeld::actors
