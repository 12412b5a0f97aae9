// The published catalog: snapshots never change once read, and queries page and filter them.
#include "actors/catalog_board.hpp"

#include <catch2/catch.hpp>

using namespace modeld::actors;

namespace {

std::shared_ptr<const model_record> record_of(std::string id, std::string type, std::vector<std::string> tags = {}) {
  model_record record;
  record.entry.model_id = std::move(id);
  record.entry.type = std::move(type);
  record.metadata.tags = std::move(tags);
  return std::make_shared<const model_record>(std::move(record));
}

shared_records three_models() {
  shared_records models;
  for (auto& record : {record_of("a", "lora", {"Anime"}), record_of("b", "checkpoint"), record_of("c", "lora")})
    models[record->entry.model_id] = record;
  return models;
}

std::vector<std::string> ids_of(const model_page& page) {
  std::vector<std::string> ids;
  for (auto& record : page.models)
    ids.push_back(record.entry.model_id);
  return ids;
}

} // namespace

TEST_CASE("a snapshot read stays as it was while newer ones are published", "[catalog_board]") {
  catalog_board board;
  auto empty = board.read();
  CHECK(empty->version == 0);
  CHECK(empty->models.empty());

  board.publish(three_models());
  auto first = board.read();
  CHECK(first->version == 1);
  board.publish({});
  CHECK(board.read()->version == 2);
  CHECK(board.read()->models.empty());
  CHECK(first->models.size() == 3); // the reader's snapshot is untouched
  CHECK(empty->models.empty());
}

TEST_CASE("queries filter and page a snapshot in model id order", "[catalog_board]") {
  catalog_board board;
  board.publish(three_models());
  auto catalog = board.read();

  model_query loras;
  loras.type = "lora";
  auto page = query_models(*catalog, loras);
  CHECK(page.total == 2);
  CHECK(ids_of(page) == std::vector<std::string>{"a", "c"});

  model_query second;
  second.offset = 1;
  second.limit = 1;
  page = query_models(*catalog, second);
  CHECK(page.total == 3);
  CHECK(ids_of(page) == std::vector<std::string>{"b"});

  model_query tagged;
  tagged.tag = "anime"; // tags match case-insensitively
  CHECK(ids_of(query_models(*catalog, tagged)) == std::vector<std::string>{"a"});

  model_query unloaded;
  unloaded.loaded = false;
  unloaded.loaded_ids = {"b"};
  CHECK(ids_of(query_models(*catalog, unloaded)) == std::vector<std::string>{"a", "c"});
}
