#include "catalog/model_store.hpp"

#include <catch2/catch.hpp>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <string_view>

using namespace modeld::catalog;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed afterwards.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "model_store_test.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path db() const { return path / "modeld.sqlite"; }
};

std::unique_ptr<model_store> open_store(const fs::path& file) {
  auto opened = model_store::open(file);
  if (const auto* reason = std::get_if<std::string>(&opened))
    FAIL("open failed: " << *reason);
  return std::move(std::get<std::unique_ptr<model_store>>(opened));
}

std::string refusal(const fs::path& file) {
  auto opened = model_store::open(file);
  REQUIRE(std::holds_alternative<std::string>(opened));
  return std::get<std::string>(opened);
}

// Another connection to the same file, as a second program (or a test's fault) would hold.
struct raw_db {
  sqlite3* db = nullptr;
  explicit raw_db(const fs::path& file) { REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK); }
  ~raw_db() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    std::string value(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    return value;
  }
};

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

catalog_entry entry(const std::string& model_id, std::uint64_t size = 100, std::int64_t mtime = 1000) {
  catalog_entry e;
  e.model_id = model_id;
  e.root = "/models";
  e.path = "/models/" + model_id;
  e.format = "safetensors";
  e.size_bytes = size;
  e.mtime_ns = mtime;
  e.architecture = "sdxl";
  e.type = "checkpoint";
  e.precision = "fp16";
  e.parameter_count = 3'500'000'000;
  e.components_json = R"([{"name":"unet","tensor_count":1680}])";
  e.embedded_json = R"({"modelspec.title":"x"})";
  e.discovered_at_ms = 10;
  e.updated_at_ms = 10;
  return e;
}

std::vector<std::string> ids(const std::vector<catalog_entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.model_id);
  return out;
}

metadata_patch named(const std::string& name) {
  metadata_patch p;
  p.name = name;
  return p;
}

} // namespace

TEST_CASE("open creates a WAL database at the current schema and data survives reopening", "[store]") {
  temp_dir dir;
  {
    auto store = open_store(dir.db());
    CHECK(store->schema_version() == model_store::current_schema_version);
    CHECK(store->load_catalog().empty());
    store->apply_scan({{entry("a.safetensors")}, {}});
    metadata_patch p = named("A");
    p.tags = std::vector<std::string>{"x", "y"};
    store->put_metadata("a.safetensors", p, std::nullopt, 5);
    store->store_validation("a.safetensors", "basic", 100, 1000, R"({"is_valid":true})", 6);
    store->add_benchmark_result("a.safetensors", R"({"n":1})", 7);
  }
  {
    raw_db raw(dir.db());
    CHECK(raw.text("PRAGMA journal_mode") == "wal");
    CHECK(raw.text("PRAGMA user_version") == std::to_string(model_store::current_schema_version));
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    auto store = open_store(dir.db());
    CHECK(store->schema_version() == model_store::current_schema_version);
    const auto catalog = store->load_catalog();
    REQUIRE(catalog.size() == 1);
    CHECK(catalog[0].path == "/models/a.safetensors");
    CHECK(catalog[0].parameter_count == 3'500'000'000);
    const auto m = store->metadata("a.safetensors");
    CHECK(m.name == "A");
    CHECK(m.tags == std::vector<std::string>{"x", "y"});
    CHECK(m.revision == 1);
    CHECK(store->cached_validation("a.safetensors", "basic", 100, 1000) == R"({"is_valid":true})");
    CHECK(store->benchmark_results("a.safetensors") == std::vector<std::string>{R"({"n":1})"});
  }
}

TEST_CASE("open refuses a database with a newer schema and leaves it untouched", "[store]") {
  temp_dir dir;
  {
    raw_db raw(dir.db());
    raw.exec("CREATE TABLE future (x INTEGER); PRAGMA user_version = " +
             std::to_string(model_store::current_schema_version + 1));
  }
  const auto reason = refusal(dir.db());
  CHECK_THAT(reason, Catch::Contains("newer"));
  CHECK_THAT(reason, Catch::Contains(std::to_string(model_store::current_schema_version + 1)));
  raw_db raw(dir.db());
  CHECK(raw.text("PRAGMA user_version") == std::to_string(model_store::current_schema_version + 1));
  CHECK(raw.text("PRAGMA journal_mode") == "delete");
}

TEST_CASE("open refuses a file that is not a database without touching it", "[store]") {
  temp_dir dir;
  const std::string text = GENERATE(std::string("model_id,name\nsdxl,SDXL base\n"), std::string(4096, '\x7f'),
                                    std::string("SQLite format 3") + std::string(200, 'z'));
  write_file(dir.db(), text);
  CHECK_THAT(refusal(dir.db()), Catch::Contains("not an SQLite database"));
  CHECK(read_file(dir.db()) == text);
}

TEST_CASE("open refuses another application's database", "[store]") {
  temp_dir dir;
  SECTION("marked as another application's") {
    {
      raw_db raw(dir.db());
      raw.exec("PRAGMA application_id = 1234; CREATE TABLE notes (body TEXT)");
    }
    CHECK_THAT(refusal(dir.db()), Catch::Contains("another application"));
  }
  SECTION("unmarked, with a table of the same name: the migration fails and changes nothing") {
    {
      raw_db raw(dir.db());
      raw.exec("CREATE TABLE benchmark_results (body TEXT)");
    }
    CHECK_THAT(refusal(dir.db()), Catch::Contains("migration to schema version 1") &&
                                      Catch::Contains("benchmark_results already exists"));
    raw_db raw(dir.db());
    CHECK(raw.text("PRAGMA user_version") == "0");
    CHECK(raw.text("SELECT count(*) FROM sqlite_schema") == "1");
  }
}

TEST_CASE("open refuses paths it cannot create a database at", "[store]") {
  temp_dir dir;
  CHECK_THAT(refusal(dir.path / "missing" / "modeld.sqlite"), Catch::Contains("cannot use"));
  CHECK_THAT(refusal(dir.path), Catch::Contains("cannot use"));
}

TEST_CASE("apply_scan upserts and removes, returning the catalog ordered by model id", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  store->apply_scan({{entry("b.safetensors"), entry("a/z.gguf"), entry("a.safetensors")}, {}});
  CHECK(ids(store->load_catalog()) == std::vector<std::string>{"a.safetensors", "a/z.gguf", "b.safetensors"});

  catalog_entry huge = entry("c.bin");
  huge.size_bytes = std::numeric_limits<std::uint64_t>::max();
  huge.parameter_count = std::numeric_limits<std::uint64_t>::max() - 1;
  huge.mtime_ns = -5;
  store->apply_scan({{huge}, {"a/z.gguf", "never-there"}});
  const auto catalog = store->load_catalog();
  CHECK(ids(catalog) == std::vector<std::string>{"a.safetensors", "b.safetensors", "c.bin"});
  CHECK(catalog[2].size_bytes == std::numeric_limits<std::uint64_t>::max());
  CHECK(catalog[2].parameter_count == std::numeric_limits<std::uint64_t>::max() - 1);
  CHECK(catalog[2].mtime_ns == -5);
  CHECK(catalog[0].components_json == R"([{"name":"unet","tensor_count":1680}])");
  CHECK(catalog[0].embedded_json == R"({"modelspec.title":"x"})");
  CHECK(catalog[0].architecture == "sdxl");
  CHECK(catalog[0].type == "checkpoint");
  CHECK(catalog[0].precision == "fp16");
  CHECK(catalog[0].format == "safetensors");
  CHECK(catalog[0].root == "/models");
}

TEST_CASE("apply_scan is one transaction: a failure midway changes nothing", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  store->apply_scan({{entry("keep.safetensors"), entry("old.safetensors")}, {}});
  {
    raw_db raw(dir.db());
    raw.exec("CREATE TRIGGER injected_failure BEFORE INSERT ON catalog WHEN NEW.model_id = 'bad'"
             " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  }
  catalog_entry changed = entry("keep.safetensors", 999);
  CHECK_THROWS_AS(store->apply_scan({{changed, entry("new.safetensors"), entry("bad")}, {"old.safetensors"}}),
                  store_error);
  const auto catalog = store->load_catalog();
  CHECK(ids(catalog) == std::vector<std::string>{"keep.safetensors", "old.safetensors"});
  CHECK(catalog[0].size_bytes == 100);
  // The store stays usable after the failure.
  store->apply_scan({{entry("new.safetensors")}, {"old.safetensors"}});
  CHECK(ids(store->load_catalog()) == std::vector<std::string>{"keep.safetensors", "new.safetensors"});
}

TEST_CASE("apply_scan keeps discovered_at of an existing row and replaces the rest", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  catalog_entry first = entry("m.safetensors");
  first.discovered_at_ms = 111;
  first.updated_at_ms = 111;
  store->apply_scan({{first}, {}});
  store->set_checksums("m.safetensors", "aa11", "bb22");

  SECTION("found again under another root: the scan's row, first discovery kept") {
    catalog_entry again = entry("m.safetensors");
    again.discovered_at_ms = 222;
    again.updated_at_ms = 222;
    again.root = "/other";
    again.path = "/other/m.safetensors";
    again.architecture = "sd1";
    store->apply_scan({{again}, {}});
    const auto row = store->load_catalog().at(0);
    CHECK(row.discovered_at_ms == 111);
    CHECK(row.updated_at_ms == 222);
    CHECK(row.root == "/other");
    CHECK(row.path == "/other/m.safetensors");
    CHECK(row.architecture == "sd1");
    CHECK(row.sha256.empty());
    CHECK(row.autov2.empty());
  }
  SECTION("changed file: the scan's size, mtime and checksums") {
    catalog_entry changed = entry("m.safetensors", 101, 2000);
    changed.discovered_at_ms = 333;
    changed.sha256 = "cc33";
    store->apply_scan({{changed}, {}});
    const auto row = store->load_catalog().at(0);
    CHECK(row.discovered_at_ms == 111);
    CHECK(row.size_bytes == 101);
    CHECK(row.mtime_ns == 2000);
    CHECK(row.sha256 == "cc33");
    CHECK(row.autov2.empty());
  }
  SECTION("removed and found again: a new discovery") {
    store->apply_scan({{}, {"m.safetensors"}});
    catalog_entry back = entry("m.safetensors");
    back.discovered_at_ms = 444;
    store->apply_scan({{back}, {}});
    const auto row = store->load_catalog().at(0);
    CHECK(row.discovered_at_ms == 444);
    CHECK(row.sha256.empty());
  }
}

TEST_CASE("set_checksums updates an existing row and ignores a missing one", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  store->apply_scan({{entry("m.safetensors")}, {}});
  store->set_checksums("m.safetensors", std::string(64, 'f'), "0123456789");
  store->set_checksums("gone.safetensors", "x", "y");
  const auto catalog = store->load_catalog();
  REQUIRE(catalog.size() == 1);
  CHECK(catalog[0].sha256 == std::string(64, 'f'));
  CHECK(catalog[0].autov2 == "0123456789");
}

TEST_CASE("validity round-trips through apply_scan and set_validity", "[store]") {
  temp_dir dir;
  catalog_entry broken = entry("broken.safetensors");
  broken.format = "safetensors";
  broken.architecture = "unknown";
  broken.is_valid = false;
  broken.invalid_reason = "SAFETENSORS_HEADER_INVALID: header is not valid JSON";
  catalog_entry empty = entry("x.ckpt", 0);
  empty.format = "unknown";
  empty.is_valid = false;
  empty.invalid_reason = "FILE_EMPTY: the file is empty";
  {
    auto store = open_store(dir.db());
    store->apply_scan({{broken, empty, entry("ok.safetensors")}, {}});
  }
  auto store = open_store(dir.db()); // from the disk, not from memory
  auto catalog = store->load_catalog();
  REQUIRE(ids(catalog) == std::vector<std::string>{"broken.safetensors", "ok.safetensors", "x.ckpt"});
  CHECK_FALSE(catalog[0].is_valid);
  CHECK(catalog[0].invalid_reason == "SAFETENSORS_HEADER_INVALID: header is not valid JSON");
  CHECK(catalog[1].is_valid);
  CHECK(catalog[1].invalid_reason.empty());
  CHECK_FALSE(catalog[2].is_valid);
  CHECK(catalog[2].invalid_reason == "FILE_EMPTY: the file is empty");
  CHECK(catalog[2].format == "unknown");

  SECTION("a rescan of a repaired file makes it valid") {
    store->apply_scan({{entry("broken.safetensors", 200, 2000)}, {}});
    catalog = store->load_catalog();
    CHECK(catalog[0].is_valid);
    CHECK(catalog[0].invalid_reason.empty());
  }
  SECTION("set_validity updates a row, keeps the reason only when invalid, ignores a missing one") {
    store->set_validity("ok.safetensors", false, "TENSOR_NAN_VALUES: 3 NaN values");
    store->set_validity("x.ckpt", true, "ignored when valid");
    store->set_validity("gone.safetensors", false, "x");
    catalog = store->load_catalog();
    REQUIRE(catalog.size() == 3);
    CHECK_FALSE(catalog[1].is_valid);
    CHECK(catalog[1].invalid_reason == "TENSOR_NAN_VALUES: 3 NaN values");
    CHECK(catalog[1].size_bytes == 100); // nothing else changed
    CHECK(catalog[2].is_valid);
    CHECK(catalog[2].invalid_reason.empty());
  }
}

namespace {

// The schema of the previous release, version 1: the first step of the migrations array in
// catalog/model_store.cpp as it was before the catalog kept validity (git show
// 31f9b5a^:catalog/model_store.cpp), byte for byte, with the two pragmas that release's
// migrate() set after it. Kept here, frozen, so that an edit to an old step is caught: a
// migrated store must match a fresh one.
constexpr const char* schema_version_1 = R"sql(
    CREATE TABLE catalog (
      model_id TEXT PRIMARY KEY,
      root TEXT NOT NULL,
      path TEXT NOT NULL,
      format TEXT NOT NULL,
      size_bytes INTEGER NOT NULL,
      mtime_ns INTEGER NOT NULL,
      architecture TEXT NOT NULL,
      type TEXT NOT NULL,
      precision TEXT NOT NULL,
      parameter_count INTEGER NOT NULL,
      components_json TEXT NOT NULL,
      embedded_json TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      autov2 TEXT NOT NULL,
      discovered_at_ms INTEGER NOT NULL,
      updated_at_ms INTEGER NOT NULL
    ) STRICT;

    -- No foreign key to catalog: metadata outlives the file's catalog row.
    CREATE TABLE user_metadata (
      model_id TEXT PRIMARY KEY,
      name TEXT,
      description TEXT,
      author TEXT,
      license TEXT,
      source TEXT,
      version TEXT,
      custom_json TEXT NOT NULL,
      revision INTEGER NOT NULL,
      created_at_ms INTEGER NOT NULL,
      updated_at_ms INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE user_metadata_tags (
      model_id TEXT NOT NULL REFERENCES user_metadata (model_id) ON DELETE CASCADE,
      position INTEGER NOT NULL,
      tag TEXT NOT NULL,
      PRIMARY KEY (model_id, position)
    ) STRICT;

    CREATE TABLE validation_results (
      model_id TEXT NOT NULL,
      level TEXT NOT NULL,
      size_bytes INTEGER NOT NULL,
      mtime_ns INTEGER NOT NULL,
      result_json TEXT NOT NULL,
      validated_at_ms INTEGER NOT NULL,
      PRIMARY KEY (model_id, level)
    ) STRICT;

    CREATE TABLE benchmark_results (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      model_id TEXT NOT NULL,
      result_json TEXT NOT NULL,
      created_at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX benchmark_results_by_model ON benchmark_results (model_id, id);
  )sql"
                                         R"sql(
  PRAGMA application_id = 1297040460;
  PRAGMA user_version = 1;
)sql";

// The schema as SQLite keeps it: every table and index with its CREATE statement.
std::string schema_of(const fs::path& file) {
  raw_db raw(file);
  return raw.text("SELECT group_concat(type || ' ' || name || ': ' || sql, char(10)) FROM"
                  " (SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type, name)");
}

} // namespace

TEST_CASE("a database of schema version 1 migrates: its rows are kept and count as valid", "[store]") {
  temp_dir dir;
  {
    raw_db raw(dir.db());
    raw.exec(schema_version_1);
    // A row in every table, as the previous release wrote them.
    raw.exec("INSERT INTO catalog VALUES ('old.safetensors', '/models', '/models/old.safetensors', 'safetensors',"
             " 100, 1000, 'sdxl', 'checkpoint', 'fp16', 7, '[]', '{}', 'abc', 'def', 10, 11)");
    raw.exec("INSERT INTO user_metadata VALUES ('old.safetensors', 'Old', 'kept', 'me', NULL, NULL, NULL,"
             " '{\"k\":1}', 3, 1, 2)");
    raw.exec("INSERT INTO user_metadata_tags VALUES ('old.safetensors', 0, 'zeta'), ('old.safetensors', 1, 'alpha')");
    raw.exec("INSERT INTO validation_results VALUES ('old.safetensors', 'basic', 100, 1000, '{\"is_valid\":true}', 5)");
    raw.exec("INSERT INTO benchmark_results (model_id, result_json, created_at_ms) VALUES"
             " ('old.safetensors', '{\"run\":1}', 6), ('old.safetensors', '{\"run\":2}', 7)");
  }
  {
    auto store = open_store(dir.db());
    CHECK(store->schema_version() == model_store::current_schema_version);
    auto catalog = store->load_catalog();
    REQUIRE(catalog.size() == 1);
    CHECK(catalog[0].model_id == "old.safetensors");
    CHECK(catalog[0].sha256 == "abc");
    CHECK(catalog[0].autov2 == "def");
    CHECK(catalog[0].parameter_count == 7);
    CHECK(catalog[0].discovered_at_ms == 10);
    CHECK(catalog[0].updated_at_ms == 11);
    CHECK(catalog[0].is_valid);
    CHECK(catalog[0].invalid_reason.empty());
    const auto m = store->metadata("old.safetensors");
    CHECK(m.revision == 3);
    CHECK(m.name == "Old");
    CHECK(m.description == "kept");
    CHECK(m.author == "me");
    CHECK_FALSE(m.license);
    CHECK(m.custom_json == R"({"k":1})");
    CHECK(m.tags == std::vector<std::string>{"zeta", "alpha"});
    CHECK(m.created_at_ms == 1);
    CHECK(m.updated_at_ms == 2);
    CHECK(store->cached_validation("old.safetensors", "basic", 100, 1000) == R"({"is_valid":true})");
    CHECK(store->benchmark_results("old.safetensors") == std::vector<std::string>{R"({"run":1})", R"({"run":2})"});

    // The new columns work on the migrated table, and writes go on from the old revision.
    catalog_entry broken = entry("old.safetensors");
    broken.is_valid = false;
    broken.invalid_reason = "FILE_EMPTY: the file is empty";
    store->apply_scan({{broken}, {}});
    CHECK(store->put_metadata("old.safetensors", named("New"), std::nullopt, 20).metadata.revision == 4);
  }
  {
    // Opening the migrated store again changes nothing.
    auto store = open_store(dir.db());
    CHECK(store->schema_version() == model_store::current_schema_version);
    CHECK(store->metadata("old.safetensors").tags == std::vector<std::string>{"zeta", "alpha"});
  }
  raw_db raw(dir.db());
  CHECK(raw.text("PRAGMA user_version") == std::to_string(model_store::current_schema_version));
  CHECK(raw.text("PRAGMA application_id") == "1297040460");
  CHECK(raw.text("SELECT is_valid || ':' || invalid_reason FROM catalog") == "0:FILE_EMPTY: the file is empty");
  CHECK(raw.text("SELECT discovered_at_ms FROM catalog") == "10");

  // The migrated store has exactly the schema of one made new by this build.
  temp_dir fresh;
  open_store(fresh.db());
  CHECK(schema_of(dir.db()) == schema_of(fresh.db()));
}

TEST_CASE("metadata of a model never written is the default at revision 0", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  const auto m = store->metadata("nothing.safetensors");
  CHECK(m.revision == 0);
  CHECK_FALSE(m.name);
  CHECK_FALSE(m.description);
  CHECK_FALSE(m.author);
  CHECK_FALSE(m.license);
  CHECK_FALSE(m.source);
  CHECK_FALSE(m.version);
  CHECK(m.tags.empty());
  CHECK(m.custom_json == "{}");
  CHECK(m.created_at_ms == 0);
  CHECK(m.updated_at_ms == 0);
}

TEST_CASE("put_metadata applies a patch field by field and counts revisions", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  metadata_patch first;
  first.name = "SDXL";
  first.author = "Stability";
  first.tags = std::vector<std::string>{"base", "xl"};
  first.custom_json = R"({"a":1})";
  const auto r1 = store->put_metadata("m", first, std::nullopt, 1000);
  CHECK(r1.outcome == put_outcome::written);
  CHECK(r1.metadata.revision == 1);
  CHECK(r1.metadata.created_at_ms == 1000);
  CHECK(r1.metadata.updated_at_ms == 1000);

  metadata_patch second;
  second.description = "the base model";
  second.license = "openrail++";
  second.source = "";
  second.version = "1.0";
  const auto r2 = store->put_metadata("m", second, std::nullopt, 2000);
  CHECK(r2.metadata.revision == 2);
  CHECK(r2.metadata.created_at_ms == 1000);
  CHECK(r2.metadata.updated_at_ms == 2000);

  const auto m = store->metadata("m");
  CHECK(m.name == "SDXL");
  CHECK(m.author == "Stability");
  CHECK(m.description == "the base model");
  CHECK(m.license == "openrail++");
  REQUIRE(m.source);
  CHECK(m.source->empty());
  CHECK(m.version == "1.0");
  CHECK(m.tags == std::vector<std::string>{"base", "xl"});
  CHECK(m.custom_json == R"({"a":1})");
  CHECK(m.revision == 2);
  CHECK(m.created_at_ms == 1000);
  CHECK(m.updated_at_ms == 2000);
  // What the put answered is what is stored.
  CHECK(r2.metadata.name == m.name);
  CHECK(r2.metadata.tags == m.tags);
  CHECK(r2.metadata.custom_json == m.custom_json);

  metadata_patch clear_tags;
  clear_tags.tags = std::vector<std::string>{};
  const auto r3 = store->put_metadata("m", clear_tags, std::nullopt, 3000);
  CHECK(r3.metadata.revision == 3);
  CHECK(store->metadata("m").tags.empty());
  CHECK(store->metadata("m").name == "SDXL");

  const auto r4 = store->put_metadata("m", metadata_patch{}, std::nullopt, 4000);
  CHECK(r4.metadata.revision == 4);
  CHECK(store->metadata("m").updated_at_ms == 4000);
  CHECK(store->metadata("other").revision == 0);
}

TEST_CASE("put_metadata with a stale expected_revision answers the current state and writes nothing", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  metadata_patch p = named("one");
  p.tags = std::vector<std::string>{"t"};
  REQUIRE(store->put_metadata("m", p, 0, 100).outcome == put_outcome::written);
  REQUIRE(store->put_metadata("m", named("two"), 1, 200).outcome == put_outcome::written);

  metadata_patch stale = named("three");
  stale.tags = std::vector<std::string>{"u", "v"};
  stale.custom_json = R"({"x":1})";
  for (const std::int64_t expected : {0, 1, 3, -1}) {
    const auto r = store->put_metadata("m", stale, expected, 300);
    CHECK(r.outcome == put_outcome::conflict);
    CHECK(r.metadata.revision == 2);
    CHECK(r.metadata.name == "two");
    CHECK(r.metadata.tags == std::vector<std::string>{"t"});
    CHECK(r.metadata.updated_at_ms == 200);
  }
  const auto m = store->metadata("m");
  CHECK(m.revision == 2);
  CHECK(m.name == "two");
  CHECK(m.tags == std::vector<std::string>{"t"});
  CHECK(m.custom_json == "{}");
  CHECK(m.updated_at_ms == 200);

  // A conflict on a model never written answers the default.
  const auto fresh = store->put_metadata("new", named("n"), 4, 300);
  CHECK(fresh.outcome == put_outcome::conflict);
  CHECK(fresh.metadata.revision == 0);
  CHECK(store->metadata("new").revision == 0);

  const auto ok = store->put_metadata("m", stale, 2, 400);
  CHECK(ok.outcome == put_outcome::written);
  CHECK(ok.metadata.revision == 3);
  CHECK(store->metadata("m").name == "three");
}

TEST_CASE("put_metadata is one transaction: a failure midway changes nothing", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  metadata_patch p = named("before");
  p.tags = std::vector<std::string>{"a"};
  store->put_metadata("m", p, std::nullopt, 100);
  {
    raw_db raw(dir.db());
    raw.exec("CREATE TRIGGER injected_failure BEFORE INSERT ON user_metadata_tags WHEN NEW.tag = 'boom'"
             " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  }
  metadata_patch failing = named("after");
  failing.tags = std::vector<std::string>{"ok", "boom"};
  CHECK_THROWS_AS(store->put_metadata("m", failing, std::nullopt, 200), store_error);
  const auto m = store->metadata("m");
  CHECK(m.name == "before");
  CHECK(m.tags == std::vector<std::string>{"a"});
  CHECK(m.revision == 1);
  CHECK(store->put_metadata("m", named("after"), 1, 300).metadata.revision == 2);
}

TEST_CASE("custom metadata is kept byte for byte", "[store]") {
  temp_dir dir;
  const std::string custom = GENERATE(
      std::string(R"({"zeta":1,"Alpha":{"b":[3,2,1],"a":null},"ModelId":"kept as sent"})"),
      std::string("{ \"caf\xC3\xA9\" : \"\xE6\xA8\xA1\xE5\x9E\x8B \xF0\x9F\x98\x80\",\n\t"
                  "\"esc\":\"\\u00e9\\ud83d\\ude00\" }"),
      std::string(R"({"n":1.0e+00,"m":-0.000,"big":123456789012345678901234567890})"),
      std::string(R"({"dup":1,"dup":2})"), std::string("{}"),
      "{\"blob\":\"" + std::string(1 << 20, 'q') + "\"}");
  {
    auto store = open_store(dir.db());
    metadata_patch p;
    p.custom_json = custom;
    CHECK(store->put_metadata("m", p, std::nullopt, 1).metadata.custom_json == custom);
    CHECK(store->metadata("m").custom_json == custom);
  }
  CHECK(open_store(dir.db())->metadata("m").custom_json == custom);
}

TEST_CASE("tags come back in the order they were stored", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  const std::vector<std::string> tags{"zebra", "alpha", "\xC3\xA9t\xC3\xA9", "Alpha", "", "m", "alpha"};
  metadata_patch p;
  p.tags = tags;
  store->put_metadata("m", p, std::nullopt, 1);
  CHECK(store->metadata("m").tags == tags);
  p.tags = std::vector<std::string>{"b", "a"};
  store->put_metadata("m", p, std::nullopt, 2);
  CHECK(store->metadata("m").tags == std::vector<std::string>{"b", "a"});
  // Another model's tags are its own.
  p.tags = std::vector<std::string>{"c"};
  store->put_metadata("n", p, std::nullopt, 3);
  CHECK(store->metadata("m").tags == std::vector<std::string>{"b", "a"});
}

TEST_CASE("user metadata outlives the catalog row of its file", "[store]") {
  temp_dir dir;
  {
    auto store = open_store(dir.db());
    store->apply_scan({{entry("m.safetensors")}, {}});
    metadata_patch p = named("mine");
    p.tags = std::vector<std::string>{"keep"};
    store->put_metadata("m.safetensors", p, std::nullopt, 1);
    store->apply_scan({{}, {"m.safetensors"}});
    CHECK(store->load_catalog().empty());
    CHECK(store->metadata("m.safetensors").name == "mine");
  }
  auto store = open_store(dir.db());
  store->apply_scan({{entry("m.safetensors")}, {}});
  const auto m = store->metadata("m.safetensors");
  CHECK(m.name == "mine");
  CHECK(m.tags == std::vector<std::string>{"keep"});
  CHECK(m.revision == 1);
}

TEST_CASE("a validation result is reused only for the same size and mtime", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  CHECK_FALSE(store->cached_validation("m", "basic", 100, 1000));
  store->store_validation("m", "basic", 100, 1000, R"({"level":"basic"})", 1);
  store->store_validation("m", "comprehensive", 100, 1000, R"({"level":"comprehensive"})", 1);

  CHECK(store->cached_validation("m", "basic", 100, 1000) == R"({"level":"basic"})");
  CHECK(store->cached_validation("m", "comprehensive", 100, 1000) == R"({"level":"comprehensive"})");
  CHECK_FALSE(store->cached_validation("m", "basic", 101, 1000));
  CHECK_FALSE(store->cached_validation("m", "basic", 100, 1001));
  CHECK_FALSE(store->cached_validation("m", "basic", 100, 999));
  CHECK_FALSE(store->cached_validation("m", "standard", 100, 1000));
  CHECK_FALSE(store->cached_validation("n", "basic", 100, 1000));

  // The file changed and was validated again: the new result replaces the old one.
  store->store_validation("m", "basic", 200, 2000, R"({"level":"basic","again":true})", 2);
  CHECK_FALSE(store->cached_validation("m", "basic", 100, 1000));
  CHECK(store->cached_validation("m", "basic", 200, 2000) == R"({"level":"basic","again":true})");
  CHECK(store->cached_validation("m", "comprehensive", 100, 1000) == R"({"level":"comprehensive"})");

  const auto max = std::numeric_limits<std::uint64_t>::max();
  store->store_validation("big", "basic", max, -1, "{}", 3);
  CHECK(store->cached_validation("big", "basic", max, -1) == "{}");
  CHECK_FALSE(store->cached_validation("big", "basic", max - 1, -1));
}

TEST_CASE("benchmark results are a per-model history, oldest first", "[store]") {
  temp_dir dir;
  {
    auto store = open_store(dir.db());
    CHECK(store->benchmark_results("m").empty());
    // Timestamps out of order: the order is the order of arrival.
    store->add_benchmark_result("m", R"({"run":1})", 300);
    store->add_benchmark_result("n", R"({"run":"other"})", 200);
    store->add_benchmark_result("m", R"({"run":2})", 100);
    store->add_benchmark_result("m", R"({"run":3})", 200);
  }
  auto store = open_store(dir.db());
  CHECK(store->benchmark_results("m") == std::vector<std::string>{R"({"run":1})", R"({"run":2})", R"({"run":3})"});
  CHECK(store->benchmark_results("n") == std::vector<std::string>{R"({"run":"other"})"});
  store->add_benchmark_result("m", R"({"run":4})", 400);
  CHECK(store->benchmark_results("m").back() == R"({"run":4})");
}

namespace {

// The child's side of the durability test: one put, acknowledged on the pipe, then more
// writes until it is killed, so the kill lands in the middle of a transaction.
[[noreturn]] void put_ack_and_keep_writing(const fs::path& file, int ack_fd, int iteration) {
  std::string line;
  try {
    auto opened = model_store::open(file);
    if (auto* reason = std::get_if<std::string>(&opened)) {
      line = "error " + *reason + "\n";
    } else {
      auto& store = *std::get<std::unique_ptr<model_store>>(opened);
      const auto r = store.put_metadata("durable", named("iteration " + std::to_string(iteration)), iteration,
                                        iteration);
      const auto revision = std::to_string(r.metadata.revision);
      line = r.outcome == put_outcome::written ? "acked " + revision + "\n" : "error conflict at " + revision + "\n";
      if (write(ack_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        _exit(3);
      if (r.outcome != put_outcome::written)
        _exit(2);
      for (;;) {
        const auto churn = store.metadata("churn").revision + 1;
        store.put_metadata("churn", named("churn " + std::to_string(churn)), std::nullopt, churn);
      }
    }
  } catch (const std::exception& e) {
    line = std::string("error ") + e.what() + "\n";
  }
  [[maybe_unused]] auto ignored = write(ack_fd, line.data(), line.size());
  _exit(1);
}

std::string read_line(int fd, int timeout_ms) {
  std::string line;
  char c = 0;
  while (line.empty() || line.back() != '\n') {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1)
      break;
    line += c;
  }
  return line;
}

} // namespace

TEST_CASE("an acknowledged put survives SIGKILL of the writer", "[store][durability]") {
  temp_dir dir;
  open_store(dir.db()); // created and migrated before the first child
  for (int iteration = 0; iteration < 20; ++iteration) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(fds[0]);
      put_ack_and_keep_writing(dir.db(), fds[1], iteration);
    }
    close(fds[1]);
    const std::string ack = read_line(fds[0], 10'000);
    kill(child, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    close(fds[0]);
    INFO("iteration " << iteration << ", child said: " << ack);
    REQUIRE(ack == "acked " + std::to_string(iteration + 1) + "\n");
    CHECK(WIFSIGNALED(status));

    auto store = open_store(dir.db());
    const auto m = store->metadata("durable");
    REQUIRE(m.revision == iteration + 1);
    CHECK(m.name == "iteration " + std::to_string(iteration));
    // Whatever the kill interrupted is either wholly there or wholly absent.
    const auto churn = store->metadata("churn");
    if (churn.revision > 0)
      CHECK(churn.name == "churn " + std::to_string(churn.revision));
  }
}

TEST_CASE("a batch of puts is applied in order in one transaction, each with its outcome", "[store]") {
  temp_dir dir;
  auto store = open_store(dir.db());
  auto results = store->put_metadata_batch({{"a", named("first"), std::nullopt},
                                            {"a", named("second"), 1},
                                            {"a", named("stale"), 1},
                                            {"b", named("other"), 0}},
                                           5000);
  REQUIRE(results.size() == 4);
  CHECK(results[0].outcome == put_outcome::written);
  CHECK(results[1].outcome == put_outcome::written);
  CHECK(results[1].metadata.revision == 2);
  CHECK(results[2].outcome == put_outcome::conflict);
  CHECK(results[2].metadata.name == "second");
  CHECK(results[3].metadata.revision == 1);
  store.reset();
  auto reopened = open_store(dir.db());
  CHECK(reopened->metadata("a").name == "second");
  CHECK(reopened->metadata("a").revision == 2);
  CHECK(reopened->metadata("b").name == "other");
}
