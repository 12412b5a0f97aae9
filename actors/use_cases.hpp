// The device use cases, as an actor: load, unload, benchmark, and reading a model into the RAM
// cache. It owns the sequence of asks each takes (the device named or placed, the model
// resolved by the scanner, fetched through the RAM cache, loaded or measured by the device, a
// load reported back to the cache) with `.then` continuations, never blocking, and answers one
// typed result; the front end parses, asks once and renders. It watches the actors it waits
// on, so a device that dies holding work is answered for, and forwards the requester's drop
// to the device doing the work.
#pragma once

#include "actors/actors.hpp"
#include "actors/catalog_board.hpp"
#include "actors/registry.hpp"
#include "actors/request_watches.hpp"
#include "actors/service_registry.hpp"

#include <caf/stateful_actor.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>

namespace modeld::actors {

class cache_board;

struct use_case_state {
  static inline const char* name = "use_cases";
  std::shared_ptr<const device_registry> devices;
  std::shared_ptr<const cache_board> cache; // what the RAM cache holds, for eviction costs
  std::shared_ptr<const catalog_board> catalog; // component identities the catalog keeps, for loads
  std::shared_ptr<const service_registry> services;
  scanner_actor scanner;
  request_watches watches;
  // ticket -> passes its drop on to the actor doing its work (a device, the validation service)
  std::map<std::uint64_t, std::function<void()>> working;
  std::set<std::uint64_t> started; // tickets between their start and their answer
  std::set<std::uint64_t> dropped; // of those, dropped before an actor took their work
};

using use_case_pointer = use_case_actor::stateful_pointer<use_case_state>;

use_case_actor::behavior_type use_cases(use_case_pointer self, std::shared_ptr<const device_registry> devices,
                                        std::shared_ptr<const service_registry> services, scanner_actor scanner,
                                        std::shared_ptr<const cache_board> cache_board,
                                        std::shared_ptr<const catalog_board> catalog_board);

// Steps the use cases share (use_cases.cpp), and the validation use case (use_case_validate.cpp).

// Why a use case's result did not happen (empty when it did).
template <class Result>
failure& error_of(Result& result) {
  return result.error;
}
inline failure& error_of(benchmark_result& result) { return result.reply.error; }

// The answer of a use case that did not happen: `why` and nothing else.
template <class Result>
Result refused_with(failure why) {
  Result result;
  error_of(result) = std::move(why);
  return result;
}

// A ticket's work is over: it is forgotten (a late drop for it is ignored).
void forget(use_case_pointer self, std::uint64_t ticket);

// `handle` now does the work of `ticket`: a drop for it goes there.
template <class Handle>
void working_on(use_case_pointer self, std::uint64_t ticket, Handle handle) {
  self->state.working[ticket] = [self, handle, ticket] { self->send(handle, drop_atom::value, ticket); };
}

// CONFLICT: an unload of `model_id` found it held by `leases` leases.
failure leased_conflict(const std::string& model_id, std::size_t leases);

// Resolves `model_id` at the scanner and fetches it through the RAM cache (the tensor table, and
// the bytes when cached or when `read_on_miss`); then `next`, or `fail` with why not.
void fetch_model(use_case_pointer self, std::string model_id, bool read_on_miss, std::function<void(cache_fetch&)> next,
                 std::function<void(failure)> fail);

caf::result<validate_result> start_validate(use_case_pointer self, validate_request& request);

// The RAM cache commands (use_case_cache.cpp).
caf::result<cache_report_result> start_cache_report(use_case_pointer self, cache_request& request);
caf::result<cache_fill_result> start_cache_fill(use_case_pointer self, cache_request& request);
caf::result<cache_evict_result> start_cache_evict(use_case_pointer self, cache_request& request);

} // namespace modeld::actors
