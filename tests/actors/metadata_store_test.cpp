// The metadata store actor over a real SQLite store: puts that share one group commit each get
// their own answer, and the catalog it publishes holds the last of them.
#include "actors/metadata_store.hpp"
#include "catalog/report_json.hpp"

#include "test_system.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
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

TEST_CASE("the catalog keeps component identities for the file they were computed from", "[metadata_store]") {
  store_dir dir;
  {
    auto opened = catalog::model_store::open(dir.path / "modeld.sqlite");
    REQUIRE(std::holds_alternative<std::unique_ptr<catalog::model_store>>(opened));
    catalog::catalog_entry entry;
    entry.model_id = "ft.safetensors";
    entry.root = dir.path.string();
    entry.path = (dir.path / entry.model_id).string();
    entry.size_bytes = 100;
    entry.mtime_ns = 7;
    entry.components_json = R"([{"name":"unet"},{"name":"vae"}])";
    std::get<std::unique_ptr<catalog::model_store>>(opened)->apply_scan({{entry}, {}});
  }
  auto identity_of_vae = [](const catalog_board& board) {
    auto identities = catalog::component_identities(board.read()->models.at("ft.safetensors")->entry.components_json);
    return identities.empty() ? std::string{} : identities.at(0).identity;
  };
  auto open_store = [&] {
    auto opened = catalog::model_store::open(dir.path / "modeld.sqlite");
    REQUIRE(std::holds_alternative<std::unique_ptr<catalog::model_store>>(opened));
    return std::shared_ptr<catalog::model_store>(std::move(std::get<std::unique_ptr<catalog::model_store>>(opened)));
  };
  {
    test::deterministic_system sys;
    auto board = std::make_shared<catalog_board>();
    auto store = sys.system.spawn(metadata_store, open_store(), board);
    sys.run();
    caf::scoped_actor self{sys.system};
    // Computed from a file of another size (it changed since): not kept.
    self->send(store, identify_atom::value, identified_components{"ft.safetensors", 99, 7, {{"vae", "aa"}}});
    sys.run();
    self->receive([](ok_atom) {});
    CHECK(identity_of_vae(*board).empty());
    self->send(store, identify_atom::value, identified_components{"ft.safetensors", 100, 7, {{"vae", "aa"}}});
    sys.run();
    self->receive([](ok_atom) {});
    CHECK(identity_of_vae(*board) == "aa"); // published
    self->send_exit(store, caf::exit_reason::user_shutdown);
    sys.run();
  }
  // And written: a store opened anew reads it back.
  test::deterministic_system sys;
  auto board = std::make_shared<catalog_board>();
  auto store = sys.system.spawn(metadata_store, open_store(), board);
  sys.run();
  CHECK(identity_of_vae(*board) == "aa");
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  sys.run();
}
