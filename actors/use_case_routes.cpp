#include "actors/use_case_routes.hpp"

#include "actors/epoch.hpp"
#include "actors/node.hpp"

#include <memory>

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

// Sends `request` (its device id now the node's own) to the node of `route`; `rename` makes the
// answer's device ids NAME/ID. A node that goes away while it holds the request is answered for.
template <class Result, class Atom, class Request, class Rename>
caf::result<Result> send_to_node(use_case_pointer self, const peer_route& route, Atom atom, Request request,
                                 Rename rename) {
  const auto device_id = on_node(route, request.device_id);
  if (!route.node)
    return refused_with<Result>(failure{errc::device_unavailable, route.unreachable}.about("device_id", device_id));
  request.device_id = route.device_id;
  auto promise = std::make_shared<caf::typed_response_promise<Result>>(self->make_response_promise<Result>());
  auto node = caf::actor_cast<node_actor>(route.node);
  watched_request<Result>(
    self, node, caf::infinite,
    [promise, route, rename](Result& answer) {
      answer.error = from_node(route, std::move(answer.error));
      rename(answer);
      promise->deliver(std::move(answer));
    },
    [self, promise, route, device_id](const caf::error& error) {
      auto why = failure_of(error, "asking node " + route.node_name);
      if (why.code == errc::internal) // the node went away, or could not take the request
        why = failure{errc::device_unavailable, "node " + route.node_name + " did not complete the request: " +
                                                  self->system().render(error)};
      promise->deliver(refused_with<Result>(std::move(why).about("device_id", device_id)));
    },
    atom, self->state.devices->peers()->secret(), std::move(request));
  return *promise;
}

} // namespace

std::optional<caf::result<load_result>> load_on_node(use_case_pointer self, const load_request& request) {
  auto route = route_of(self, request.device_id);
  if (!route)
    return std::nullopt;
  if (request.policy.lease) // a lease is held by a connection of the node that loaded: not built across nodes
    return caf::result<load_result>{refused_with<load_result>(
      failure{errc::invalid_request, "leases on another node's device are not built yet: load with lease on that node"}
        .about("device_id", request.device_id))};
  return send_to_node<load_result>(self, *route, load_atom::value, request, [route](load_result& answer) {
    if (!answer.done.device_id.empty())
      answer.done.device_id = on_node(*route, answer.done.device_id);
  });
}

std::optional<caf::result<unload_result>> unload_on_node(use_case_pointer self, const unload_request& request) {
  auto route = route_of(self, request.device_id);
  if (!route)
    return std::nullopt;
  return send_to_node<unload_result>(self, *route, unload_atom::value, request, [route](unload_result& answer) {
    for (auto& device : answer.devices)
      device.device_id = on_node(*route, device.device_id);
    for (auto* leases : {&answer.kept, &answer.revoked})
      for (auto& lease : *leases)
        lease.device_id = on_node(*route, lease.device_id);
  });
}

} // namespace modeld::actors
