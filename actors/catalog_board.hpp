// The catalog as the metadata store last published it: one immutable snapshot, replaced whole
// on every change. get_models and get_model read it and never ask the store, so they answer at
// once while a rescan applies, a write commits, or the store hangs or restarts (the last
// snapshot stays until the new store publishes its own). A reader holds one snapshot for its
// whole answer, so a page is never torn between two versions.
//
// Copy-on-write: a snapshot holds shared pointers to records that never change; the store
// copies a record before changing it when a snapshot still shares it, so publishing costs one
// pointer per model, never a copy of the records.
#pragma once

#include "actors/catalog_messages.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace modeld::actors {

using shared_records = std::map<std::string, std::shared_ptr<const model_record>>;

struct catalog_snapshot {
  std::uint64_t version = 0; // 0: nothing published yet
  shared_records models;     // model id -> record
};

class catalog_board {
public:
  void publish(shared_records models);
  std::shared_ptr<const catalog_snapshot> read() const;

private:
  mutable std::mutex mutex_; // guards the pointer only; a snapshot never changes
  std::shared_ptr<const catalog_snapshot> snapshot_ = std::make_shared<const catalog_snapshot>();
};

// True when `record` passes every filter of `query`.
bool matches(const model_record& record, const model_query& query);
// The page of `catalog` that `query` asks for, in model id order, with the count of matches.
model_page query_models(const catalog_snapshot& catalog, const model_query& query);

} // namespace modeld::actors
