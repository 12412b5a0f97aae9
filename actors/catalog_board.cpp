#include "actors/catalog_board.hpp"
#include "catalog/case_fold.hpp"

namespace modeld::actors {

void catalog_board::publish(shared_records models) {
  std::lock_guard lock{mutex_};
  auto next = std::make_shared<catalog_snapshot>();
  next->version = snapshot_->version + 1;
  next->models = std::move(models);
  snapshot_ = std::move(next);
}

std::shared_ptr<const catalog_snapshot> catalog_board::read() const {
  std::lock_guard lock{mutex_};
  return snapshot_;
}

bool matches(const model_record& record, const model_query& q) {
  auto& e = record.entry;
  if (q.type && e.type != *q.type)
    return false;
  if (q.architecture && e.architecture != *q.architecture)
    return false;
  if (q.format && e.format != *q.format)
    return false;
  if (q.tag && !catalog::has_tag(record.metadata.tags, *q.tag))
    return false;
  if (q.loaded && *q.loaded != (q.loaded_ids.count(e.model_id) > 0))
    return false;
  return true;
}

model_page query_models(const catalog_snapshot& catalog, const model_query& q) {
  model_page page;
  for (auto& [id, record] : catalog.models) {
    if (!matches(*record, q))
      continue;
    if (page.total >= q.offset && page.models.size() < q.limit)
      page.models.push_back(*record);
    ++page.total;
  }
  return page;
}

} // namespace modeld::actors
