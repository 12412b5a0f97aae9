// The device actor: one per GPU or virtual CPU device. It owns the device's memory account
// and the models resident in it; copies run on the loads pool's workers, so the actor keeps
// answering while they run.
#pragma once

#include "actors/actors.hpp"
#include "actors/device_board.hpp"
#include "actors/service_faults.hpp"
#include "actors/worker_pool.hpp"
#include "gpu/memory_account.hpp"

#include <caf/actor_clock.hpp>
#include <caf/typed_response_promise.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace modeld::actors {

// One copy of an identified component (a VAE, a text encoder, ...) in this device's memory,
// shared by every model that uses it: freed when the last of them goes.
struct component_copy {
  std::string identity;
  std::string component; // its name in the model that loaded it
  std::shared_ptr<gpu::loaded_weights> weights;
  std::uint64_t bytes = 0;
  std::set<std::string> users; // the models resident or loading that use it
};

// info.leases, pinned, priority and keep_alive_ms are the model's keeping rules (load_policy);
// info.expires_at_ms and reload_ms are worked out when status is made. info.bytes counts every
// component of the model (logical bytes); its shared components are held in device_state::copies.
struct resident_model {
  loaded_model info;
  std::shared_ptr<gpu::loaded_weights> weights; // its own tensors: the components it shares with no one (may be null)
  std::uint64_t own_bytes = 0;                  // the bytes of `weights`
  std::vector<std::string> copies;              // keys of device_state::copies it uses
  // Measured by its load: the disk read (none when it came from the RAM cache) and the copy.
  std::optional<double> disk_to_host_ms;
  double host_to_device_ms = 0;
};

// One request waiting on a load: its ticket (drop_atom), its answer, and its lease (lease: true).
struct load_waiter {
  std::uint64_t ticket = 0;
  caf::typed_response_promise<load_reply> promise;
  std::optional<lease_holder> lease;
};

struct pending_load {
  load_order order;
  std::uint64_t reserved_bytes = 0;
  std::vector<std::string> reused;  // copies it uses that the device held already (it is among their users)
  bool identified_here = false;     // the device computed order.model.identities (the catalog did not know them)
  bool shared_copies = false;       // its components are loaded one by one, identified ones as copies to share
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  std::vector<load_waiter> waiters;
  std::vector<eviction_note> evicted;
  std::string eviction_rule;
  bool unload_requested = false;
  std::chrono::steady_clock::time_point started;
};

struct running_benchmark {
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  caf::typed_response_promise<benchmark_reply> promise;
  bool answered = false; // cancelled: answered at once, the worker's result is dropped
};

struct device_state {
  static inline const char* name = "device";
  device_info info;
  std::shared_ptr<device_board> board;
  worker_pools pools; // loads, benchmarks and frees run there, never on this actor's thread
  gpu::memory_account memory;
  std::map<std::string, resident_model> resident; // model id -> weights in this device's memory
  std::map<std::string, pending_load> loading;    // model id -> load in progress
  std::map<std::string, component_copy> copies;   // copy_key -> a shared component's one copy
  std::uint64_t loads = 0;
  std::uint64_t unloads = 0;
  std::uint64_t evictions = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t failed_loads = 0; // device_status::failed_loads
  std::uint64_t expirations = 0;  // device_status::expirations
  double load_time_ms_total = 0;
  std::map<std::uint64_t, running_benchmark> benchmarks; // ticket -> benchmark in progress

  // Injected faults: hang and slow pause the whole actor (service_faults.hpp), as a deadlocked
  // or overloaded device would be; oom makes loads and benchmarks fail as out of memory.
  service_fault fault;
  caf::actor_clock::time_point oom_until{};

  device_state() = default;
  device_state(const device_state&) = delete;
  device_state& operator=(const device_state&) = delete;
  // The actor is gone (crash, shutdown): its workers stop at their next check instead of
  // finishing copies or benchmark runs nobody will take.
  ~device_state();
};

device_status make_device_status(const device_state& state);

// Publishes the device's status on its board: after every change, and with every status answer.
template <class Self>
void publish_status(Self* self) {
  self->state.board->publish(self->address(), make_device_status(self->state));
}

// The device string libtorch takes: "cpu" for a virtual CPU device, "cuda:N" for a GPU.
std::string torch_device(const device_info& info);

// The device's side of an INSUFFICIENT_MEMORY for work that needs `needed` bytes.
memory_shortfall shortfall(const device_state& state, std::uint64_t needed);

// Brings the account's allocator reserve up to date (CUDA devices; CPU devices have none).
void measure_allocator_reserve(device_state& state);

// What bringing `model` back would take, as measured: its copy, plus its disk read unless
// `ram_cached` (the RAM cache holds it).
double reload_ms(const resident_model& model, bool ram_cached);

// The key of a component's copy: its identity, and the dtype the load asked for (a copy
// converted to fp16 is not the stored fp32 one).
std::string copy_key(const std::string& identity, gpu::load_dtype dtype);

// The bytes unloading `model` would give back: its own, and the copies no other model uses.
std::uint64_t exclusive_bytes(const device_state& state, const std::string& model_id, const resident_model& model);

device_actor::behavior_type device(device_actor::stateful_pointer<device_state> self, device_info info,
                                   std::shared_ptr<device_board> board, worker_pools pools);

} // namespace modeld::actors
