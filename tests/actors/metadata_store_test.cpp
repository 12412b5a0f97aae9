// The metadata store actor over a real SQLite store: puts that share one group commit each get
// their own answer, and the catalog it publishes holds the last of them.
#include "actors/metadata_store.hpp"

#include "test_system.hpp"

#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

using namespace modeld;
using namespace modeld::actors;
namespace fs = std::filesystem;

namespace {

struct store_dir {
  fs::path path;
  store_dir() {
    std::string pattern = (fs::temp_directory_path() / "metadata_store_test.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~store_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::shared_ptr<catalog::model_store> store_with_model(const fs::path& dir, const std::string& model_id) {
  auto opened = catalog::model_store::open(dir / "modeld.sqlite");
  REQUIRE(std::holds_alternative<std::unique_ptr<catalog::model_store>>(opened));
  std::shared_ptr<catalog::model_store> store = std::move(std::get<std::unique_ptr<catalog::model_store>>(opened));
  catalog::catalog_entry entry;
  entry.model_id = model_id;
  entry.root = dir.string();
  entry.path = (dir / model_id).string();
  store->apply_scan({{entry}, {}});
  return store;
}

metadata_write author_write(const std::string& model_id, const std::string& author) {
  metadata_write write;
  write.model_id = model_id;
  write.patch.author = author;
  return write;
}

} // namespace

TEST_CASE("puts to one model in one group commit each answer with their own revision", "[metadata_store]") {
  store_dir dir;
  test::deterministic_system sys;
  auto board = std::make_shared<catalog_board>();
  auto store = sys.system.spawn(metadata_store, store_with_model(dir.path, "m"), board);
  sys.run();
  REQUIRE(board->read()->models.count("m") == 1);

  caf::scoped_actor self{sys.system};
  self->send(store, put_atom::value, author_write("m", "first"));
  self->send(store, put_atom::value, author_write("m", "second"));
  sys.run(); // both puts, then the one flush they share

  std::vector<metadata_written> answers;
  for (int i = 0; i < 2; ++i)
    self->receive([&](metadata_written& written) { answers.push_back(std::move(written)); });
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].record.metadata.revision == 1);
  CHECK(answers[0].record.metadata.author == "first");
  CHECK(answers[1].record.metadata.revision == 2);
  CHECK(answers[1].record.metadata.author == "second");
  CHECK(answers[1].record.entry.model_id == "m");

  auto published = board->read()->models.at("m");
  CHECK(published->metadata.revision == 2);
  CHECK(published->metadata.author == "second");
  self->send_exit(store, caf::exit_reason::user_shutdown);
  sys.run();
}
