// Leases on the wire: `release`, and the steps post_model_load, post_model_unload and a closing
// connection take with them (leases.hpp keeps who holds what; the devices keep the leases).
#pragma once

#include "protocol/commands.hpp"

#include <boost/json/array.hpp>

#include <memory>
#include <string>
#include <vector>

namespace modeld::protocol {

// release {lease_id}: gives a lease back, whichever connection holds it.
asio::awaitable<command_result> release_lease(service_context& context, request& req);

// A new lease for a load of `holder`'s connection, kept by it from now on.
actors::lease_holder take_lease(service_context& context, const std::shared_ptr<connection_leases>& holder);
// The load failed: the lease was never granted.
void forget_lease(service_context& context, const std::string& lease_id);
// Tells the devices to give the lease back (its load may still grant it), and forgets it.
void give_back_lease(service_context& context, const std::string& lease_id);
// The load granted the lease: kept, unless its connection closed meanwhile (then given back).
void keep_lease_or_give_back(service_context& context, const connection_leases& holder, const std::string& lease_id);
// The connection closed: every lease it holds is given back.
void give_back_all(service_context& context, connection_leases& holder);
// A forced unload took these leases: each holder's connection hears a lease_revoked event.
void tell_revoked(service_context& context, const std::vector<actors::model_lease>& revoked, const request& req);

// [{lease_id, model_id, device_id, connection, client, acquired_at_ms}]
boost::json::array lease_holders_json(const std::vector<actors::model_lease>& leases);

} // namespace modeld::protocol
