#include "actors/cache.hpp"
#include "actors/epoch.hpp"

#include "formats/inspect.hpp"
#include "gpu/devices.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace modeld::actors {
namespace {

using self_pointer = cache_actor::stateful_pointer<cache_state>;
using reader_actor = caf::typed_actor<caf::replies_to<read_atom, std::string, std::string>::with<cache_fetch>>;

reader_actor::behavior_type reader(reader_actor::pointer self) {
  return {
    [self](read_atom, const std::string& model_id, const std::string& path) {
      self->quit(); // one read per worker thread
      return read_model(model_id, path);
    },
  };
}

void touch(cache_state& state, const std::string& model_id) {
  state.recency.remove(model_id);
  state.recency.push_front(model_id);
  state.entries[model_id].last_used_ms = epoch_ms();
}

void drop(cache_state& state, const std::string& model_id) {
  auto it = state.entries.find(model_id);
  if (it == state.entries.end())
    return;
  state.used -= it->second.model.buffer->size();
  state.entries.erase(it);
  state.recency.remove(model_id);
}

// Makes room for `bytes`, least recently used first; false when they exceed the budget.
bool make_room(cache_state& state, std::uint64_t bytes) {
  if (bytes > state.budget)
    return false;
  while (state.used + bytes > state.budget && !state.recency.empty()) {
    drop(state, state.recency.back());
    ++state.evictions;
  }
  return true;
}

void admit(cache_state& state, const cache_fetch& fetched) {
  auto& model = fetched.model;
  if (!fetched.ok || !make_room(state, model.buffer->size()))
    return;
  state.entries[model.model_id] = cache_state::entry{model, epoch_ms(), epoch_ms()};
  state.used += model.buffer->size();
  state.recency.push_front(model.model_id);
}

cache_report report(const cache_state& state) {
  cache_report out{state.budget, state.used, {}, state.hits, state.misses, state.evictions, state.bytes_read};
  for (auto& id : state.recency) {
    auto& e = state.entries.at(id);
    // The cache holds one reference; any other is a load reading the buffer.
    out.entries.push_back({id, e.model.buffer->size(), e.model.buffer->pinned(), e.model.buffer.use_count() > 1,
                           e.cached_at_ms, e.last_used_ms});
  }
  return out;
}

caf::result<cache_fetch> fetch(self_pointer self, const std::string& model_id, const std::string& path,
                               std::uint64_t size, std::int64_t mtime) {
  auto& state = self->state;
  if (auto it = state.entries.find(model_id); it != state.entries.end()) {
    auto& cached = it->second.model;
    if (cached.path == path && cached.size_bytes == size && cached.mtime_ns == mtime) {
      ++state.hits;
      touch(state, model_id);
      return cache_fetch{true, {}, cached, true, 0};
    }
    drop(state, model_id); // the file changed since it was cached
  }
  auto promise = self->make_response_promise<cache_fetch>();
  auto& waiting = state.reading[model_id];
  waiting.push_back(promise);
  if (waiting.size() > 1)
    return promise; // joins the read already running
  ++state.misses;
  auto worker = self->spawn<caf::detached>(reader);
  self->request(worker, caf::infinite, read_atom::value, model_id, path)
    .then(
      [self, model_id, size, mtime](cache_fetch& fetched) {
        auto& state = self->state;
        if (fetched.ok) {
          fetched.model.size_bytes = size;
          fetched.model.mtime_ns = mtime;
          state.bytes_read += fetched.model.buffer->size();
          admit(state, fetched);
        }
        for (auto& waiter : state.reading[model_id])
          waiter.deliver(fetched);
        state.reading.erase(model_id);
        state.board->publish(report(state));
      },
      [self, model_id](caf::error& error) {
        for (auto& waiter : self->state.reading[model_id])
          waiter.deliver(error);
        self->state.reading.erase(model_id);
      });
  return promise;
}


} // namespace

std::optional<failure> host_room_for(const std::string& model_id, const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  auto available = gpu::available_memory_bytes();
  if (ec || available == 0 || size + host_memory_reserve <= available)
    return std::nullopt;
  return failure{"INSUFFICIENT_MEMORY", "'" + model_id + "' (" + std::to_string(size) + " bytes) does not fit in the " +
                                          std::to_string(available) + " bytes of host memory available"};
}

cache_fetch read_model(const std::string& model_id, const std::string& path) {
  cache_fetch out;
  if (auto refusal = host_room_for(model_id, path)) {
    out.error = *refusal;
    return out;
  }
  auto started = std::chrono::steady_clock::now();
  auto buffer = gpu::read_host_buffer(path);
  if (auto* reason = std::get_if<std::string>(&buffer)) {
    out.error = {"MODEL_NOT_FOUND", "cannot read '" + path + "': " + *reason};
    return out;
  }
  out.disk_to_host_ms =
    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  auto report = std::make_shared<formats::model_report>(
    formats::inspect_file(path, {formats::validation_level::standard, {}, nullptr}));
  if (report->format == formats::model_format::unknown || !report->is_valid()) {
    std::string first_error;
    for (auto& issue : report->issues)
      if (issue.level == formats::severity::error) {
        first_error = issue.code + ": " + issue.message;
        break;
      }
    out.error = {"UNSUPPORTED_FORMAT", "'" + model_id + "' does not validate (" + first_error +
                                         "); post_model_validate lists every issue"};
    return out;
  }
  out.ok = true;
  out.model = cached_model{model_id, path, 0, 0, std::get<std::shared_ptr<const gpu::host_buffer>>(buffer), report};
  return out;
}

std::shared_ptr<const cache_report> cache_board::read() const {
  std::lock_guard lock{mutex_};
  return report_;
}

void cache_board::publish(cache_report report) {
  auto next = std::make_shared<const cache_report>(std::move(report));
  std::lock_guard lock{mutex_};
  report_ = std::move(next);
}

cache_actor::behavior_type cache(self_pointer self, std::uint64_t budget_bytes, std::shared_ptr<cache_board> board) {
  self->state.budget = budget_bytes;
  self->state.board = std::move(board);
  self->state.board->publish(report(self->state));
  return {
    [self](fetch_atom, const std::string& model_id, const std::string& path, std::uint64_t size,
           std::int64_t mtime) {
      auto result = fetch(self, model_id, path, size, mtime);
      self->state.board->publish(report(self->state));
      return result;
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
      state.board->publish(report(state));
      return dropped;
    },
    [self](status_atom) { return report(self->state); },
  };
}

} // namespace modeld::actors
