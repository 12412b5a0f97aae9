#include "protocol/lease_commands.hpp"

#include "protocol/actor_call.hpp"
#include "protocol/fields.hpp"

namespace modeld::protocol {
namespace json = boost::json;
using namespace actors;

namespace {

// The release goes out through a gateway; its answer only says whether a device held it.
void send_release(service_context& context, const std::string& lease_id) {
  context.bridge.dispatch([use_cases = context.use_cases, lease_id](gateway_actor* self) {
    self->request(use_cases, caf::infinite, release_atom::value, release_request{lease_id, false})
      .then([](const release_result&) {}, [](const caf::error&) {});
  });
}

} // namespace

lease_holder take_lease(service_context& context, const std::shared_ptr<connection_leases>& holder) {
  auto id = context.leases.make_id();
  holder->add(id);
  context.leases.add(id, holder);
  return {id, holder->connection(), holder->client(), 0};
}

void forget_lease(service_context& context, const std::string& lease_id) { context.leases.forget(lease_id); }

void give_back_lease(service_context& context, const std::string& lease_id) {
  context.leases.forget(lease_id);
  send_release(context, lease_id);
}

void keep_lease_or_give_back(service_context& context, const connection_leases& holder, const std::string& lease_id) {
  if (!holder.contains(lease_id))
    give_back_lease(context, lease_id);
}

void give_back_all(service_context& context, connection_leases& holder) {
  for (auto& id : holder.take_all())
    give_back_lease(context, id);
}

void tell_revoked(service_context& context, const std::vector<model_lease>& revoked, const request& req) {
  for (auto& lease : revoked)
    context.leases.revoked(lease.holder.lease_id,
                           json::object{{"event", "lease_revoked"},
                                        {"lease_id", lease.holder.lease_id},
                                        {"model_id", lease.model_id},
                                        {"device_id", lease.device_id},
                                        {"reason", "unloaded with force: true (request " + request_id_text(req.request_id) +
                                                     (req.leases ? " of connection " + std::to_string(req.leases->connection()) : std::string{}) + ")"}});
}

json::array lease_holders_json(const std::vector<model_lease>& leases) {
  json::array out;
  for (auto& lease : leases)
    out.emplace_back(json::object{{"lease_id", lease.holder.lease_id},
                                  {"model_id", lease.model_id},
                                  {"device_id", lease.device_id},
                                  {"connection", lease.holder.connection},
                                  {"client", lease.holder.client},
                                  {"acquired_at_ms", lease.holder.acquired_at_ms}});
  return out;
}

asio::awaitable<command_result> release_lease(service_context& context, request& req) {
  auto lease_id = optional_string(req.data, "lease_id", 64);
  if (auto* error = std::get_if<protocol_error>(&lease_id))
    co_return *error;
  auto& id = std::get<std::optional<std::string>>(lease_id);
  if (!id || id->empty())
    co_return invalid_field("lease_id", "lease_id must name a lease (post_model_load with lease: true answers one)");
  // Named, not a temporary in the co_await: GCC 12 destroys such a temporary twice.
  release_request release{*id, false};
  auto reply =
    co_await ask<release_result>(context.bridge, context.use_cases, caf::infinite, release_atom::value, std::move(release));
  if (auto* error = std::get_if<caf::error>(&reply))
    co_return actor_failure(*error, "the release");
  auto& result = std::get<release_result>(reply);
  if (!result.released) {
    forget_lease(context, *id); // its device restarted, or it was never given: nothing holds it
    auto error = invalid_field("lease_id", "no device holds lease '" + *id +
                                             "' (released already, its connection closed, or its model was unloaded)");
    co_return error;
  }
  forget_lease(context, *id);
  co_return json::value(json::object{
    {"lease_id", *id}, {"model_id", result.model_id}, {"device_id", result.device_id}, {"released", true}});
}

} // namespace modeld::protocol
