#include "actors/metadata_store.hpp"
#include "actors/epoch.hpp"
#include "catalog/case_fold.hpp"
#include "catalog/report_json.hpp"

#include <boost/json/parse.hpp>
#include <caf/sec.hpp>

#include <algorithm>
#include <chrono>

namespace modeld::actors {
namespace {

using self_pointer = metadata_store_actor::stateful_pointer<metadata_store_state>;

// A store call that failed (disk full, I/O error) becomes an error reply, not a dead actor.
template <class F>
auto guarded(F&& call) -> caf::result<decltype(call())> {
  try {
    return call();
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{"metadata store: "} + e.what());
  }
}

// Changes the record of `id` (a new one if there is none) on a copy, since a published snapshot
// may share the current one.
template <class Change>
void edit(metadata_store_state& state, const std::string& id, Change change) {
  auto& slot = state.models[id];
  auto next = slot ? std::make_shared<model_record>(*slot) : std::make_shared<model_record>();
  change(*next);
  slot = std::move(next);
}

void publish(const metadata_store_state& state) {
  state.board->publish(state.models);
}

void load(self_pointer self) {
  auto& state = self->state;
  state.models.clear();
  for (auto& entry : state.store->load_catalog()) {
    auto id = entry.model_id;
    auto metadata = state.store->metadata(id);
    state.models[id] = std::make_shared<const model_record>(model_record{std::move(entry), std::move(metadata)});
  }
  publish(state);
}

known_catalog known_files(const metadata_store_state& state) {
  known_catalog known;
  for (auto& [id, record] : state.models)
    known.files[id] = catalog::known_file{record->entry.root, record->entry.size_bytes, record->entry.mtime_ns};
  return known;
}

void apply(self_pointer self, const catalog::scan_changes& changes) {
  auto& state = self->state;
  state.store->apply_scan(changes);
  for (auto& id : changes.removals)
    state.models.erase(id);
  for (auto& entry : changes.upserts)
    edit(state, entry.model_id, [&](model_record& record) {
      auto discovered = record.entry.discovered_at_ms;
      record.entry = entry;
      if (discovered != 0)
        record.entry.discovered_at_ms = discovered;
      if (record.metadata.revision == 0)
        record.metadata = state.store->metadata(entry.model_id);
    });
  publish(state);
}

caf::result<metadata_written> put(self_pointer self, const metadata_write& write) {
  auto& state = self->state;
  if (state.models.count(write.model_id) == 0)
    return metadata_written{};
  auto promise = self->make_response_promise<metadata_written>();
  state.pending_puts.push_back({write, promise});
  // The flush queues behind every put already in the mailbox, so they share its commit.
  if (!state.flush_queued) {
    state.flush_queued = true;
    self->send(self, flush_atom::value);
  }
  return promise;
}

void flush(self_pointer self) {
  auto& state = self->state;
  state.flush_queued = false;
  auto pending = std::move(state.pending_puts);
  state.pending_puts.clear();
  std::vector<catalog::metadata_put> puts;
  for (auto& p : pending)
    puts.push_back({p.write.model_id, p.write.patch, p.write.expected_revision});
  std::vector<catalog::put_result> results;
  try {
    results = state.store->put_metadata_batch(puts, epoch_ms());
  } catch (const std::exception& e) {
    for (auto& p : pending)
      p.promise.deliver(caf::make_error(caf::sec::runtime_error, std::string{"metadata store: "} + e.what()));
    return;
  }
  for (std::size_t i = 0; i < pending.size(); ++i)
    edit(state, puts[i].model_id, [&](model_record& record) { record.metadata = results[i].metadata; });
  // Published before any answer, so a client that saw its write acknowledged reads it back.
  publish(state);
  // Each answer carries the metadata as its own write left it: two puts to one model in a batch
  // get two revisions, not both the last.
  for (std::size_t i = 0; i < pending.size(); ++i)
    pending[i].promise.deliver(metadata_written{
      true, results[i].outcome, model_record{state.models[puts[i].model_id]->entry, results[i].metadata}});
}

void remember(self_pointer self, const validation_record& record) {
  auto& state = self->state;
  state.store->store_validation(record.key.model_id, record.key.level, record.key.size_bytes, record.key.mtime_ns,
                                record.result_json, epoch_ms());
  auto model = state.models.find(record.key.model_id);
  if (model == state.models.end() || model->second->entry.size_bytes != record.key.size_bytes ||
      model->second->entry.mtime_ns != record.key.mtime_ns)
    return;
  const auto& id = record.key.model_id;
  bool changed = false;
  // The catalog's validity is that of the file's latest inspection, at whatever level.
  boost::json::error_code ec;
  auto result = boost::json::parse(record.result_json, ec);
  if (!ec && result.is_object()) {
    auto [is_valid, reason] = catalog::validity_of(result.get_object());
    auto& entry = model->second->entry;
    if (is_valid != entry.is_valid || reason != entry.invalid_reason) {
      state.store->set_validity(id, is_valid, reason);
      edit(state, id, [&](model_record& changing) {
        changing.entry.is_valid = is_valid;
        changing.entry.invalid_reason = std::move(reason);
      });
      changed = true;
    }
  }
  if (!record.sha256.empty()) {
    state.store->set_checksums(id, record.sha256, record.autov2);
    edit(state, id, [&](model_record& changing) {
      changing.entry.sha256 = record.sha256;
      changing.entry.autov2 = record.autov2;
    });
    changed = true;
  }
  if (changed)
    publish(state);
}

void keep_identities(self_pointer self, const identified_components& found) {
  auto& state = self->state;
  auto model = state.models.find(found.model_id);
  if (model == state.models.end() || model->second->entry.size_bytes != found.size_bytes ||
      model->second->entry.mtime_ns != found.mtime_ns)
    return; // the file changed (or left) since it was read
  auto components = catalog::with_component_identities(model->second->entry.components_json, found.identities);
  if (components == model->second->entry.components_json)
    return;
  state.store->set_components(found.model_id, found.size_bytes, found.mtime_ns, components);
  edit(state, found.model_id, [&](model_record& changing) { changing.entry.components_json = std::move(components); });
  publish(state);
}

} // namespace

metadata_store_actor::behavior_type metadata_store(self_pointer self, std::shared_ptr<catalog::model_store> store,
                                                   std::shared_ptr<catalog_board> board) {
  // The store was opened by the runtime, which reports a failure to open before serving.
  self->state.store = std::move(store);
  self->state.board = std::move(board);
  load(self);
  return {
    [self](known_atom) { return known_files(self->state); },
    [self](apply_atom, const catalog::scan_changes& changes) {
      return guarded([&] {
        apply(self, changes);
        return ok_atom::value;
      });
    },
    [self](get_atom, const std::string& model_id) {
      auto it = self->state.models.find(model_id);
      return it == self->state.models.end() ? model_lookup{} : model_lookup{true, *it->second};
    },
    [self](put_atom, const metadata_write& write) { return put(self, write); },
    [self](flush_atom) { flush(self); },
    [self](cached_atom, const validation_cache_key& key) {
      return guarded([&] {
        return self->state.store->cached_validation(key.model_id, key.level, key.size_bytes, key.mtime_ns)
          .value_or("");
      });
    },
    [self](remember_atom, const validation_record& record) {
      return guarded([&] {
        remember(self, record);
        return ok_atom::value;
      });
    },
    [self](identify_atom, const identified_components& found) {
      return guarded([&] {
        keep_identities(self, found);
        return ok_atom::value;
      });
    },
    [self](results_atom, const std::string& model_id) {
      return guarded([&] { return self->state.store->benchmark_results(model_id); });
    },
    [self](record_atom, const std::string& model_id, const std::string& result_json) {
      return guarded([&] {
        self->state.store->add_benchmark_result(model_id, result_json, epoch_ms());
        return ok_atom::value;
      });
    },
    [self](fault_atom, const fault_request& fault) { return inject_service_fault(self, fault); },
  };
}

} // namespace modeld::actors
