// The cache actor: host-RAM copies of model files with their tensor tables, within a byte
// budget, evicted by the eviction rule (cache_state::rule). Entries are shared immutable buffers: a device
// load reads the same bytes the cache holds, and evicting an entry a load still reads
// frees it once that load is done. A file whose shareable components have identities is kept
// in blocks (cache_blocks.hpp): one copy of each component for every entry that has it.
#pragma once

#include "actors/actors.hpp"
#include "actors/service_faults.hpp"
#include "actors/worker_pool.hpp"
#include "gpu/eviction_policy.hpp"

#include <caf/typed_response_promise.hpp>

#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace modeld::actors {

// The cache's latest report, published on every change so status reads it without a hop.
// Whether an entry is in use changes without the cache hearing of it (a load drops its last
// reference to the bytes), so `in_use` is decided when the report is read: an entry is in use
// while anything but the cache holds its bytes (a load copying from them, or a request that
// has them in hand).
class cache_board {
public:
  std::shared_ptr<const cache_report> read() const;
  // `buffers[i]` holds the bytes of `report.entries[i]`.
  void publish(cache_report report, std::vector<std::weak_ptr<const gpu::host_buffer>> buffers);

private:
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const cache_report> report_ = std::make_shared<cache_report>();
  std::vector<std::weak_ptr<const gpu::host_buffer>> buffers_;
};

struct cache_state {
  static inline const char* name = "cache";
  std::uint64_t budget = 0;
  std::uint64_t used = 0; // bytes held: each entry's own, each component block once
  struct entry {
    cached_model model;
    std::int64_t cached_at_ms = 0;
    std::int64_t last_used_ms = 0;
    std::uint64_t uses = 1;         // admitted, then each fetch it served
    std::optional<double> read_ms;  // the read that filled it, when the cache timed it
    std::uint64_t own_bytes = 0;    // what only this entry holds: the whole file, or its own block
    std::vector<std::string> shared; // the identities of the component blocks it uses
  };
  // The component blocks of entries kept in blocks, by identity: each held once, freed with
  // the last entry that uses it.
  struct component_block {
    std::string component;
    std::shared_ptr<const gpu::host_buffer> bytes;
    std::set<std::string> users; // model ids
  };
  std::map<std::string, component_block> blocks;
  // How room is made: the devices' rule (--eviction-policy): cost weighs each entry's read
  // time (gpu/eviction_policy.hpp), lru takes the least recently used first.
  gpu::eviction_rule rule = gpu::eviction_rule::cost;
  double timed_read_ms = 0;           // the reads it timed, for entries whose own read it did not
  std::uint64_t timed_read_bytes = 0;
  std::map<std::string, entry> entries;
  std::list<std::string> recency; // most recently used first
  // Reads under way: those of misses, and fills (a load read the file into its device itself);
  // a fetch that joins a fill is served by the cache (from_cache).
  struct waiter {
    caf::typed_response_promise<cache_fetch> promise;
    std::chrono::steady_clock::time_point since;
  };
  struct pending_read {
    bool fill = false;
    bool discard = false; // evicted while it filled: not admitted when it ends
    std::vector<waiter> waiters;
  };
  std::map<std::string, pending_read> reading;
  // Loads that loaded (loaded_atom), served from host memory or not; fetches alone count
  // nothing, as a fetch may serve a benchmark, post_model_cache or a load the device refuses.
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0; // entries dropped for room, and models delete_model_cache evicted
  std::uint64_t bytes_read = 0;
  std::shared_ptr<cache_board> board;
  worker_pools pools; // reads and inspections run on its reads pool
  service_fault fault; // inject_fault in progress
};

// Host memory left free when a file is read in, for everything else the host runs.
inline constexpr std::uint64_t host_memory_reserve = 512ull << 20;

// INSUFFICIENT_MEMORY when `bytes` more of host memory (a file read in, a CPU device's copy of
// the tensors it loads) would leave the host less than the reserve: such a read would end in
// the OOM killer rather than an error.
std::optional<failure> host_room_for_bytes(const std::string& model_id, std::uint64_t bytes);

// A reader of a model file through the descriptor it was opened with inside the roots (never
// by path again); INTERNAL when there is none.
std::variant<gpu::file_reader, failure> reader_of(const std::string& path,
                                                  const std::shared_ptr<const formats::unique_fd>& file);

// A fetch that failed for `why`.
inline cache_fetch failed_fetch(failure why) {
  cache_fetch out;
  out.error = std::move(why);
  return out;
}

// MODEL_NOT_FOUND: the file of `model` could not be read (`why`), or no longer has the size
// it was inspected at.
failure unreadable(const cached_model& model, const std::string& why);
failure size_changed(const cached_model& model);

// Inspects a file (standard level) without reading its bytes: what a miss of a load that
// reads the file itself does, on a detached worker. UNSUPPORTED_FORMAT when it does not validate.
cache_fetch inspect_model(const cached_model& model);

// Reads a file into host memory and inspects it (standard level): what a cache miss does,
// on a detached worker.
cache_fetch read_model(const cached_model& model);

// Reads the bytes of an inspected model (its report kept): what a fill does. Fails when the
// file no longer has the size it was inspected at.
cache_fetch read_bytes(const cached_model& model, const gpu::progress_callback& progress = {});

cache_actor::behavior_type cache(cache_actor::stateful_pointer<cache_state> self, std::uint64_t budget_bytes,
                                 std::shared_ptr<cache_board> board, worker_pools pools,
                                 gpu::eviction_rule rule = gpu::eviction_rule::cost);

} // namespace modeld::actors
