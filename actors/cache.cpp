#include "actors/cache.hpp"
#include "actors/cache_blocks.hpp"
#include "actors/epoch.hpp"

#include "formats/inspect.hpp"
#include "gpu/devices.hpp"
#include "gpu/host_segments.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace modeld::actors {
namespace {

using self_pointer = cache_actor::stateful_pointer<cache_state>;
// A read or an inspection of `model` (`work`), as a job for the reads pool.
template <class Work>
blocking_job reading(cached_model model, Work work) {
  return {[model = std::move(model), work] { return caf::make_message(work(model)); }};
}

cache_fetch read_whole(const cached_model& model) { return read_model(model); }
cache_fetch inspect_only(const cached_model& model) { return inspect_model(model); }
cache_fetch fill_bytes(const cached_model& model) { return read_bytes(model); }

void touch(cache_state& state, const std::string& model_id) {
  state.recency.remove(model_id);
  state.recency.push_front(model_id);
  auto& entry = state.entries[model_id];
  entry.last_used_ms = epoch_ms();
  ++entry.uses;
}

// `model_id` no longer uses the block of `identity`; the last user frees it.
void leave_block(cache_state& state, const std::string& identity, const std::string& model_id) {
  auto it = state.blocks.find(identity);
  if (it == state.blocks.end())
    return;
  it->second.users.erase(model_id);
  if (!it->second.users.empty())
    return;
  state.used -= it->second.bytes->size();
  free_later(state.pools, std::move(it->second.bytes));
  state.blocks.erase(it);
}

void drop(cache_state& state, const std::string& model_id) {
  auto it = state.entries.find(model_id);
  if (it == state.entries.end())
    return;
  state.used -= it->second.own_bytes;
  for (const auto& identity : it->second.shared)
    leave_block(state, identity, model_id);
  free_later(state.pools, std::move(it->second.model.buffer)); // unmapped on the frees pool
  state.entries.erase(it);
  state.recency.remove(model_id);
}

// What dropping the entry of `model_id` alone frees: its own bytes, and the blocks no other
// entry uses.
std::uint64_t exclusive_bytes(const cache_state& state, const std::string& model_id) {
  const auto& entry = state.entries.at(model_id);
  auto bytes = entry.own_bytes;
  for (const auto& identity : entry.shared)
    if (auto& block = state.blocks.at(identity); block.users.size() == 1)
      bytes += block.bytes->size();
  return bytes;
}

// What reading an entry again would take: its own timed read, else its bytes at the rate of
// the reads the cache timed, else its size (every entry then weighs by bytes alike).
double reread_ms(const cache_state& state, const cache_state::entry& entry) {
  if (entry.read_ms)
    return *entry.read_ms;
  auto bytes = static_cast<double>(entry.model.buffer->size());
  if (state.timed_read_bytes > 0)
    return bytes * state.timed_read_ms / static_cast<double>(state.timed_read_bytes);
  return bytes;
}

// The entries the cost rule drops so that `bytes` more fit (none under lru).
std::vector<std::string> cost_choice(const cache_state& state, std::uint64_t bytes) {
  std::vector<std::string> ids;
  if (state.rule == gpu::eviction_rule::lru)
    return ids;
  auto now = epoch_ms();
  std::vector<gpu::eviction_candidate> candidates;
  for (auto& [id, entry] : state.entries) {
    gpu::eviction_candidate c;
    c.model_id = id;
    c.bytes = exclusive_bytes(state, id);
    c.idle_ms = now - entry.last_used_ms;
    c.uses = entry.uses;
    c.reload_ms = reread_ms(state, entry);
    candidates.push_back(std::move(c));
  }
  auto free = state.budget > state.used ? state.budget - state.used : 0;
  for (auto& choice : gpu::plan_eviction(candidates, free, bytes, state.rule).chosen)
    ids.push_back(choice.model_id);
  return ids;
}

// Makes room for `bytes` more by the cache's rule; false when an entry of `total` bytes (what
// it adds, and the blocks it shares) cannot fit the budget.
bool make_room(cache_state& state, std::uint64_t bytes, std::uint64_t total) {
  if (total > state.budget)
    return false;
  for (auto& id : cost_choice(state, bytes)) {
    drop(state, id);
    ++state.evictions;
  }
  // Under lru, and where entries that share a block free it only together (the cost plan
  // counts each entry's exclusive bytes), the least recently used go until it fits.
  while (state.used + bytes > state.budget && !state.recency.empty()) {
    drop(state, state.recency.back());
    ++state.evictions;
  }
  return true;
}

// How the blocks of a fetched buffer stand against the cache's: the component blocks it shares
// with entries (the very bytes the cache holds), those it brings, and its own bytes.
struct block_census {
  std::vector<std::string> reused;
  std::vector<const gpu::host_block*> fresh;
  std::uint64_t own = 0;
  std::uint64_t fresh_bytes = 0;
  std::uint64_t reused_bytes = 0;
};

block_census census_of(const cache_state& state, const gpu::host_buffer& buffer) {
  block_census census;
  const auto* split = dynamic_cast<const gpu::segmented_host_buffer*>(&buffer);
  if (split == nullptr) {
    census.own = buffer.size();
    return census;
  }
  for (const auto& block : split->blocks()) {
    auto held = block.identity.empty() ? state.blocks.end() : state.blocks.find(block.identity);
    if (held != state.blocks.end() && held->second.bytes == block.bytes) {
      census.reused.push_back(block.identity);
      census.reused_bytes += block.bytes->size();
    } else if (block.identity.empty() || held != state.blocks.end()) {
      census.own += block.bytes->size(); // the own block, or a second copy read alongside the first
    } else {
      census.fresh.push_back(&block);
      census.fresh_bytes += block.bytes->size();
    }
  }
  return census;
}

void admit(cache_state& state, const cache_fetch& fetched) {
  if (!fetched.ok)
    return;
  auto model = fetched.model;
  model.file.reset(); // entries hold bytes, not descriptors
  const auto& id = model.model_id;
  drop(state, id);
  auto census = census_of(state, *model.buffer);
  for (const auto& identity : census.reused) // kept while room is made
    state.blocks.at(identity).users.insert(id);
  const auto adds = census.own + census.fresh_bytes;
  if (!make_room(state, adds, adds + census.reused_bytes)) {
    for (const auto& identity : census.reused)
      leave_block(state, identity, id);
    return;
  }
  cache_state::entry entry{model, epoch_ms(), epoch_ms(), 1, fetched.disk_to_host_ms, census.own, census.reused};
  for (const auto* block : census.fresh) {
    auto component = std::string{};
    for (const auto& known : model.identities)
      if (known.identity == block->identity)
        component = known.component;
    state.blocks[block->identity] = {component, block->bytes, {id}};
    entry.shared.push_back(block->identity);
  }
  state.used += adds;
  state.entries[id] = std::move(entry);
  state.recency.push_front(id);
}

// The component blocks more than one entry uses.
std::vector<shared_component> shared_blocks(const cache_state& state) {
  std::vector<shared_component> shared;
  for (const auto& [identity, block] : state.blocks)
    if (block.users.size() > 1)
      shared.push_back({identity, block.component, block.bytes->size(),
                        std::vector<std::string>(block.users.begin(), block.users.end())});
  return shared;
}

cache_report report(const cache_state& state) {
  cache_report out{state.budget, state.used, {}, state.hits, state.misses, state.evictions, state.bytes_read,
                   0, 0, shared_blocks(state)};
  for (auto& id : state.recency) {
    auto& e = state.entries.at(id);
    out.logical_bytes += e.model.buffer->size();
    // The cache holds one reference; any other is a load reading the buffer.
    out.entries.push_back({id, e.model.buffer->size(), e.model.buffer->pinned(), e.model.buffer.use_count() > 1,
                           e.cached_at_ms, e.last_used_ms});
  }
  // Each entry's own bytes and blocks make its file, and a block shared counts once in used.
  out.shared_bytes_saved = out.logical_bytes - state.used;
  return out;
}

// Publishes the report with the entries' bytes, whose use the board judges when it is read.
void publish(const cache_state& state) {
  std::vector<std::weak_ptr<const gpu::host_buffer>> buffers;
  for (auto& id : state.recency)
    buffers.push_back(state.entries.at(id).model.buffer);
  state.board->publish(report(state), std::move(buffers));
}

// Ends the read of `model_id`: admits what it read and answers everyone waiting on it.
void finish_read(self_pointer self, const std::string& model_id, cache_fetch fetched, std::uint64_t size,
                 std::int64_t mtime) {
  auto& state = self->state;
  auto pending = std::move(state.reading[model_id]);
  state.reading.erase(model_id);
  if (fetched.ok) {
    fetched.model.size_bytes = size;
    fetched.model.mtime_ns = mtime;
    auto census = census_of(state, *fetched.model.buffer);
    auto read = fetched.model.buffer->size() - census.reused_bytes; // shared blocks were not read again
    state.bytes_read += read;
    if (fetched.disk_to_host_ms) {
      state.timed_read_ms += *fetched.disk_to_host_ms;
      state.timed_read_bytes += read;
    }
    if (!pending.discard)
      admit(state, fetched);
  }
  for (auto& waiter : pending.waiters) {
    auto answer = fetched;
    if (pending.fill && fetched.ok) { // the waiter asked while the cache was filling
      answer.from_cache = true;
      answer.disk_to_host_ms = ms_since(waiter.since);
    }
    waiter.promise.deliver(answer);
  }
  publish(state);
}

// Starts `job` on the reads pool; its answer ends the read of `model_id`.
void start_read(self_pointer self, const std::string& model_id, std::uint64_t size, std::int64_t mtime,
                blocking_job job) {
  self->request(self->state.pools.reads, caf::infinite, run_atom::value, std::move(job))
    .then([self, model_id, size, mtime](cache_fetch& fetched) { finish_read(self, model_id, fetched, size, mtime); },
          [self, model_id, size, mtime](caf::error& error) {
            cache_fetch failed;
            failed.error = {errc::internal, "reading '" + model_id + "' failed: " + self->system().render(error)};
            finish_read(self, model_id, failed, size, mtime);
          });
}

// The cached entry of `model_id` if it still matches the file; a stale one is dropped.
const cached_model* fresh_entry(cache_state& state, const std::string& model_id, const std::string& path,
                                std::uint64_t size, std::int64_t mtime) {
  auto it = state.entries.find(model_id);
  if (it == state.entries.end())
    return nullptr;
  auto& cached = it->second.model;
  if (cached.path == path && cached.size_bytes == size && cached.mtime_ns == mtime)
    return &cached;
  drop(state, model_id); // the file changed since it was cached
  return nullptr;
}

caf::result<cache_fetch> fetch(self_pointer self, const located_file& file, bool read_on_miss) {
  auto& state = self->state;
  const auto& model_id = file.model_id;
  const auto& path = file.path;
  const auto size = file.size_bytes;
  const auto mtime = file.mtime_ns;
  cached_model wanted;
  wanted.model_id = model_id;
  wanted.path = path;
  wanted.file = file.file;
  // Nothing here counts as a hit or a miss: loaded_atom does, once a load loaded.
  if (auto* cached = fresh_entry(state, model_id, path, size, mtime)) {
    touch(state, model_id);
    return cache_fetch{true, {}, *cached, true, std::nullopt}; // nothing read
  }
  if (auto running = state.reading.find(model_id); running != state.reading.end()) {
    auto promise = self->make_response_promise<cache_fetch>();
    running->second.waiters.push_back({promise, std::chrono::steady_clock::now()});
    return promise; // joins the read already running
  }
  if (!read_on_miss) {
    auto promise = self->make_response_promise<cache_fetch>();
    self->request(state.pools.reads, caf::infinite, run_atom::value, reading(wanted, inspect_only))
      .then(
        [promise, size, mtime](cache_fetch& fetched) mutable {
          fetched.model.size_bytes = size;
          fetched.model.mtime_ns = mtime;
          promise.deliver(fetched);
        },
            [promise](caf::error& error) mutable { promise.deliver(error); });
    return promise;
  }
  auto promise = self->make_response_promise<cache_fetch>();
  state.reading[model_id].waiters.push_back({promise, std::chrono::steady_clock::now()});
  start_read(self, model_id, size, mtime, reading(wanted, read_whole));
  return promise;
}

bool fill(self_pointer self, const cached_model& model) {
  auto& state = self->state;
  if (fresh_entry(state, model.model_id, model.path, model.size_bytes, model.mtime_ns) ||
      state.reading.count(model.model_id) > 0)
    return true;
  if (model.size_bytes > state.budget || !model.report)
    return false;
  if (auto plan = plan_blocks(*model.report, model.identities); !plan.empty()) {
    // Kept in blocks: read from the file (a buffer the load read is one block), each component
    // block the cache holds taken instead of read again.
    cached_blocks held;
    for (const auto& [identity, block] : state.blocks)
      held[identity] = block.bytes;
    state.reading[model.model_id].fill = true;
    start_read(self, model.model_id, model.size_bytes, model.mtime_ns,
               {[model, plan = std::move(plan), held = std::move(held)] {
                 return caf::make_message(read_in_blocks(model, plan, held));
               }});
    return true;
  }
  if (model.buffer) { // the load read it into host memory already
    admit(state, cache_fetch{true, {}, model, false, std::nullopt});
    state.bytes_read += model.buffer->size();
    publish(state);
    return state.entries.count(model.model_id) > 0;
  }
  state.reading[model.model_id].fill = true;
  start_read(self, model.model_id, model.size_bytes, model.mtime_ns, reading(model, fill_bytes));
  return true;
}

} // namespace

std::optional<failure> host_room_for_bytes(const std::string& model_id, std::uint64_t bytes) {
  auto available = gpu::available_memory_bytes();
  if (available == 0 || bytes + host_memory_reserve <= available)
    return std::nullopt;
  const auto free = available > host_memory_reserve ? available - host_memory_reserve : 0;
  return out_of_memory("'" + model_id + "' (" + std::to_string(bytes) + " bytes) does not fit in the " +
                         std::to_string(available) + " bytes of host memory available",
                       {"host", bytes, free, available});
}

std::variant<gpu::file_reader, failure> reader_of(const std::string& path,
                                                  const std::shared_ptr<const formats::unique_fd>& file) {
  auto descriptor = file ? file->duplicate() : formats::unique_fd{};
  if (!descriptor)
    return failure{errc::internal, "'" + path + "' was not opened inside the model roots"};
  return gpu::file_reader::adopt(std::move(descriptor), path);
}

namespace {

// A standard-level report, or UNSUPPORTED_FORMAT when it does not validate.
cache_fetch accept_report(const cached_model& model, formats::model_report inspected) {
  const auto& model_id = model.model_id;
  cache_fetch out;
  auto report = std::make_shared<formats::model_report>(std::move(inspected));
  if (report->format == formats::model_format::unknown || !report->is_valid()) {
    const auto* first = formats::first_error(report->issues);
    out.error = {errc::unsupported_format, "'" + model_id + "' does not validate (" +
                                         (first ? first->code + ": " + first->message : std::string{}) +
                                         "); post_model_validate lists every issue"};
    return out;
  }
  out.ok = true;
  out.model = model;
  out.model.size_bytes = report->file.size_bytes;
  out.model.report = report;
  return out;
}

} // namespace

failure unreadable(const cached_model& model, const std::string& why) {
  return {errc::model_not_found, "cannot read '" + model.path + "': " + why};
}

failure size_changed(const cached_model& model) {
  return {errc::model_not_found, "'" + model.path + "' changed size since it was inspected"};
}

cache_fetch inspect_model(const cached_model& model) {
  auto descriptor = model.file ? model.file->duplicate() : formats::unique_fd{};
  return accept_report(model, formats::inspect_opened(std::move(descriptor), model.path,
                                                      {formats::validation_level::standard, {}, nullptr}));
}

cache_fetch read_bytes(const cached_model& model, const gpu::progress_callback& progress) {
  cache_fetch out;
  auto reader = reader_of(model.path, model.file);
  if (auto* refusal = std::get_if<failure>(&reader))
    return failed_fetch(*refusal);
  const auto& file = std::get<gpu::file_reader>(reader);
  if (auto refusal = host_room_for_bytes(model.model_id, file.size()))
    return failed_fetch(*refusal);
  auto started = std::chrono::steady_clock::now();
  auto buffer = gpu::read_host_buffer(file, progress);
  if (auto* reason = std::get_if<std::string>(&buffer))
    return failed_fetch(unreadable(model, *reason));
  auto& bytes = std::get<std::shared_ptr<const gpu::host_buffer>>(buffer);
  if (model.report && bytes->size() != model.report->file.size_bytes)
    return failed_fetch(size_changed(model));
  out.disk_to_host_ms = ms_since(started);
  out.ok = true;
  out.model = model;
  out.model.buffer = bytes;
  return out;
}

cache_fetch read_model(const cached_model& model) {
  auto read = read_bytes(model);
  if (!read.ok)
    return read;
  // The bytes just read, not the file again: the report describes exactly the buffer.
  const auto& bytes = *read.model.buffer;
  auto inspected = accept_report(model, formats::inspect_bytes({bytes.data(), bytes.size()}, model.path,
                                                               {formats::validation_level::standard, {}, nullptr}));
  if (!inspected.ok)
    return inspected;
  read.model.report = inspected.model.report;
  return read;
}

std::shared_ptr<const cache_report> cache_board::read() const {
  // The cache holds one reference to an entry's bytes; any other is a load reading them (or a
  // request holding them until it answers).
  auto in_use = [](const std::weak_ptr<const gpu::host_buffer>& bytes) { return bytes.use_count() > 1; };
  std::lock_guard lock{mutex_};
  const auto& entries = report_->entries;
  bool changed = false;
  for (std::size_t i = 0; i < buffers_.size() && i < entries.size() && !changed; ++i)
    changed = in_use(buffers_[i]) != entries[i].in_use;
  if (changed) { // a copy only when a flag changed since the last read
    auto next = std::make_shared<cache_report>(*report_);
    for (std::size_t i = 0; i < buffers_.size() && i < next->entries.size(); ++i)
      next->entries[i].in_use = in_use(buffers_[i]);
    report_ = std::move(next);
  }
  return report_;
}

void cache_board::publish(cache_report report, std::vector<std::weak_ptr<const gpu::host_buffer>> buffers) {
  auto next = std::make_shared<const cache_report>(std::move(report));
  std::lock_guard lock{mutex_};
  report_ = std::move(next);
  buffers_ = std::move(buffers);
}

cache_actor::behavior_type cache(self_pointer self, std::uint64_t budget_bytes, std::shared_ptr<cache_board> board,
                                 worker_pools pools, gpu::eviction_rule rule) {
  self->state.rule = rule;
  self->state.pools = std::move(pools);
  self->state.budget = budget_bytes;
  self->state.board = std::move(board);
  publish(self->state);
  return {
    [self](fetch_atom, const located_file& file, bool read_on_miss) {
      auto result = fetch(self, file, read_on_miss);
      publish(self->state);
      return result;
    },
    [self](fill_atom, const cached_model& model) { return fill(self, model); },
    [self](loaded_atom, const cached_model& model, bool from_cache) {
      auto& state = self->state;
      ++(from_cache ? state.hits : state.misses);
      auto cached = from_cache || fill(self, model);
      publish(state);
      return cached;
    },
    [self](evict_atom, const std::string& model_id) {
      std::vector<std::string> dropped;
      auto& state = self->state;
      auto ids = model_id.empty() ? std::vector<std::string>(state.recency.begin(), state.recency.end())
                                  : std::vector<std::string>{model_id};
      for (auto& id : ids)
        if (state.entries.count(id) > 0) {
          drop(state, id);
          dropped.push_back(id);
        }
      // A fill under way is on its way in: it is not admitted when it ends.
      for (auto& [id, pending] : state.reading)
        if (pending.fill && !pending.discard && (model_id.empty() || id == model_id)) {
          pending.discard = true;
          dropped.push_back(id);
        }
      state.evictions += dropped.size(); // every model it answers as evicted
      publish(state);
      return dropped;
    },
    [self](status_atom) { return report(self->state); },
    [self](fault_atom, const fault_request& fault) { return inject_service_fault(self, fault); },
  };
}

} // namespace modeld::actors
