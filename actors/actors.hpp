// Every typed actor interface of modeld, in one place.
#pragma once

#include "actors/atoms.hpp"
#include "actors/catalog_messages.hpp"
#include "actors/device_messages.hpp"
#include "actors/use_case_messages.hpp"
#include "actors/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <string>

namespace modeld::actors {

// One per device (GPU or virtual CPU device): holds models in that device's memory.
using device_actor = caf::typed_actor<
  // Reports memory, loaded models and counters; answers at once, even during loads.
  caf::replies_to<status_atom>::with<device_status>,
  // Injects a fault: crash (stop with an error), hang (take no message at all for the
  // duration), slow (work 10 ms out of every 100 ms for the duration), oom (loads and
  // benchmarks fail as out of memory for the duration). See service_faults.hpp.
  caf::replies_to<fault_atom, fault_request>::with<ok_atom>,
  // Loads a model from its cached bytes into device memory, within the budget (evicting by
  // the order's rule when it allows: gpu/eviction_policy.hpp); concurrent loads of one model
  // share one copy. With a lease, a model held already is leased, not loaded again. The heavy copy runs on a worker, so status keeps answering.
  caf::replies_to<load_atom, load_order>::with<load_reply>,
  // Unloads one model (its id) or everything (empty string), freeing its memory; a leased
  // model stays (and is named) unless the order forces it (its leases are then revoked).
  caf::replies_to<unload_atom, unload_order>::with<unload_reply>,
  // Gives a lease back (release, or its connection closed).
  caf::replies_to<release_atom, std::string>::with<release_reply>,
  // The requester of a load or benchmark (its ticket) went away: a load nobody waits for is
  // cancelled, a benchmark is answered CANCELLED at once and its worker stops.
  caf::reacts_to<drop_atom, std::uint64_t>,
  // Measures a model on this device (its memory reserved for the run, then freed).
  caf::replies_to<benchmark_atom, benchmark_order>::with<benchmark_reply>,
  // Tells the device board the device is alive, then comes again (sent to itself periodically,
  // so a hung device stops saying so).
  caf::reacts_to<heartbeat_atom>>;

// Spawns, monitors and restarts the device actors, publishing their handles in the registry.
using supervisor_actor = caf::typed_actor<
  // Answers once every device actor has been started and registered.
  caf::replies_to<ready_atom>::with<ok_atom>,
  // Restarts a device after its backoff (sent to itself with a delay).
  caf::reacts_to<restart_atom, std::string>,
  // Stops every child in reverse order of start, then replies.
  caf::replies_to<shutdown_atom>::with<ok_atom>>;

// Owns the SQLite store and an in-memory mirror of the catalog; runs detached (blocking I/O).
using metadata_store_actor = caf::typed_actor<
  // Size and mtime of every cataloged file, for discovery.
  caf::replies_to<known_atom>::with<known_catalog>,
  // Writes what a scan found, in one transaction.
  caf::replies_to<apply_atom, catalog::scan_changes>::with<ok_atom>,
  // One model with its user metadata.
  caf::replies_to<get_atom, std::string>::with<model_lookup>,
  // A partial metadata update; acknowledged once durable. Puts that arrive together are
  // written in one transaction (group commit).
  caf::replies_to<put_atom, metadata_write>::with<metadata_written>,
  // Writes the puts gathered so far (sent to itself behind them).
  caf::reacts_to<flush_atom>,
  // A cached validation result for this exact file state, or "" when there is none.
  caf::replies_to<cached_atom, validation_cache_key>::with<std::string>,
  // Caches a validation result (and checksums it computed).
  caf::replies_to<remember_atom, validation_record>::with<ok_atom>,
  // Keeps the component identities a load computed (catalog components' `identity`).
  caf::replies_to<identify_atom, identified_components>::with<ok_atom>,
  // Benchmark results history of a model (JSON objects, oldest first).
  caf::replies_to<results_atom, std::string>::with<std::vector<std::string>>,
  // Appends a benchmark result (model id, JSON object).
  caf::replies_to<record_atom, std::string, std::string>::with<ok_atom>,
  // inject_fault (service_faults.hpp).
  caf::replies_to<fault_atom, fault_request>::with<ok_atom>>;

// Walks the model roots and keeps the catalog current; resolves request paths. Detached.
using scanner_actor = caf::typed_actor<
  // Rescans every root (empty string) or one root; incremental by size and mtime.
  caf::replies_to<scan_atom, scan_request>::with<scan_summary>,
  // Resolves a model_id (catalog) or model_path (inside the roots) and stats the file.
  caf::replies_to<resolve_atom, std::string, bool>::with<located_file>>;

// Runs validations on a pool of detached workers; identical concurrent requests share one
// scan, and a scan nobody waits for any more is cancelled.
using validation_actor = caf::typed_actor<
  caf::replies_to<validate_atom, validation_job>::with<validation_outcome>,
  // The requester of `ticket` went away (cancel, timeout, closed connection).
  caf::reacts_to<drop_atom, std::uint64_t>,
  // inject_fault (service_faults.hpp).
  caf::replies_to<fault_atom, fault_request>::with<ok_atom>>;

// The RAM cache: model files in host memory (within --cache-size, evicted by the
// --eviction-policy rule) with their tensor tables, handed to device loads without copies.
using cache_actor = caf::typed_actor<
  // A model's bytes and tensor table: from the cache, or read now (concurrent misses of
  // one file share one read). Arguments: the file as resolved and opened now, and whether a
  // miss reads the bytes (false: a miss answers the tensor table only, for a load that reads
  // the file itself; a read already running is joined either way).
  caf::replies_to<fetch_atom, located_file, bool>::with<cache_fetch>,
  // Reads a model into the cache in the background (a load read it straight into a device and
  // answered already). Answers as soon as the read is under way, so a fetch sent after the
  // answer joins it: true when the model is cached or being read, false when it cannot be
  // (larger than the budget). The model's buffer is null; its report is reused.
  caf::replies_to<fill_atom, cached_model>::with<bool>,
  // A load of this model succeeded; sent by the one request whose answer counts
  // (load_reply::counts), so each load that loads counts once, and nothing else (benchmarks,
  // post_model_cache, refused or failed loads) counts at all. true: served from host memory,
  // a hit; false: the device read the file, a miss, and the cache then fills as for fill_atom.
  // Answers as fill_atom does (true on a hit).
  caf::replies_to<loaded_atom, cached_model, bool>::with<bool>,
  // Drops one model (its id) or every model (empty string) from the cache; the ids dropped.
  caf::replies_to<evict_atom, std::string>::with<std::vector<std::string>>,
  // Entries, budget and statistics.
  caf::replies_to<status_atom>::with<cache_report>,
  // inject_fault (service_faults.hpp).
  caf::replies_to<fault_atom, fault_request>::with<ok_atom>>;

// The use cases (use_cases.hpp): the front end's one ask for each.
using use_case_actor = caf::typed_actor<
  // Places, resolves, fetches and loads a model; answers what loaded or why not.
  caf::replies_to<load_atom, load_request>::with<load_result>,
  // Unloads a model (or everything) from one device or every device.
  caf::replies_to<unload_atom, unload_request>::with<unload_result>,
  // Gives a lease back (release, or its connection closed): asks each device in turn.
  caf::replies_to<release_atom, release_request>::with<release_result>,
  // Places, resolves and fetches a model as for a load, then measures it on the device.
  caf::replies_to<benchmark_atom, benchmark_command>::with<benchmark_result>,
  // The RAM cache commands, of this node's cache or routed to a joined node's: what it holds,
  // a model resolved and read into it (or found there), models evicted.
  caf::replies_to<cached_atom, cache_request>::with<cache_report_result>,
  caf::replies_to<fetch_atom, cache_request>::with<cache_fill_result>,
  caf::replies_to<evict_atom, cache_request>::with<cache_evict_result>,
  // Validates a model: a stored result for the same file state, or a scan by the validation
  // service, remembered by the store before it answers.
  caf::replies_to<validate_atom, validate_request>::with<validate_result>,
  // The requester of `ticket` went away: forwarded to the device doing its load.
  caf::reacts_to<drop_atom, std::uint64_t>>;

} // namespace modeld::actors
