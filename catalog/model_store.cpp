#include "catalog/model_store.hpp"

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

namespace modeld::catalog {

namespace {

// PRAGMA application_id of a modeld store ("MODL"), so another program's database is not
// mistaken for an empty store and migrated.
constexpr std::int32_t application_id = 0x4d4f444c;

// Schema steps in order; step i brings the database from version i to version i + 1, each in
// its own transaction together with the new user_version.
constexpr std::array<std::string_view, model_store::current_schema_version> migrations = {
  R"sql(
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
  )sql",
  // 2: the validity of each catalogued file from its last inspection, so damaged model files
  // are listed (invalid) instead of left out. Rows written before count as valid until their
  // file changes or is validated again.
  R"sql(
    ALTER TABLE catalog ADD COLUMN is_valid INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE catalog ADD COLUMN invalid_reason TEXT NOT NULL DEFAULT '';
  )sql",
  // 3: a model's defaults for loads that do not say: pinned (0 or 1) and priority; NULL: none.
  R"sql(
    ALTER TABLE user_metadata ADD COLUMN pinned INTEGER;
    ALTER TABLE user_metadata ADD COLUMN priority TEXT;
  )sql",
};

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw store_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    fail(db, sql);
}

// One prepared statement, finalized on scope exit. Every value is bound, never spliced into
// the SQL text. SQLite's INTEGER is signed 64 bits: unsigned values travel bit for bit.
class statement {
public:
  statement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), 0, &stmt_, nullptr) != SQLITE_OK)
      fail(db, "prepare");
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  template <class... Values>
  statement& bind(const Values&... values) {
    int index = 0;
    (bind_one(++index, values), ...);
    return *this;
  }

  // True while a row is available.
  bool step() {
    switch (sqlite3_step(stmt_)) {
      case SQLITE_ROW:
        return true;
      case SQLITE_DONE:
        return false;
      default:
        fail(db_, "step");
    }
  }

  void run() {
    while (step()) {
    }
  }

  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    if (data == nullptr)
      return {};
    return std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  std::optional<std::int64_t> optional_integer(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL)
      return std::nullopt;
    return integer(column);
  }
  std::optional<std::string> optional_text(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL)
      return std::nullopt;
    return text(column);
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::uint64_t unsigned_integer(int column) const { return static_cast<std::uint64_t>(integer(column)); }

private:
  void bind_one(int index, std::string_view value) {
    // A null data pointer would bind SQL NULL rather than the empty string.
    const char* data = value.data() == nullptr ? "" : value.data();
    check(sqlite3_bind_text64(stmt_, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void bind_one(int index, const std::string& value) { bind_one(index, std::string_view(value)); }
  void bind_one(int index, const std::optional<std::string>& value) {
    if (value)
      bind_one(index, std::string_view(*value));
    else
      check(sqlite3_bind_null(stmt_, index));
  }
  void bind_one(int index, std::int64_t value) { check(sqlite3_bind_int64(stmt_, index, value)); }
  void bind_one(int index, const std::optional<bool>& value) {
    if (value)
      bind_one(index, std::int64_t{*value ? 1 : 0});
    else
      check(sqlite3_bind_null(stmt_, index));
  }
  void bind_one(int index, std::uint64_t value) { bind_one(index, static_cast<std::int64_t>(value)); }

  void check(int rc) {
    if (rc != SQLITE_OK)
      fail(db_, "bind");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write inside cannot fail
// with SQLITE_BUSY halfway. Rolled back unless commit() returned.
class write_transaction {
public:
  explicit write_transaction(sqlite3* db) : db_(db) { exec(db, "BEGIN IMMEDIATE"); }
  ~write_transaction() {
    if (!committed_ && sqlite3_get_autocommit(db_) == 0)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;

  void commit() {
    exec(db_, "COMMIT");
    committed_ = true;
  }

private:
  sqlite3* db_;
  bool committed_ = false;
};

// A consistent snapshot across several SELECTs.
class read_transaction {
public:
  explicit read_transaction(sqlite3* db) : db_(db) { exec(db, "BEGIN"); }
  ~read_transaction() {
    if (sqlite3_get_autocommit(db_) == 0)
      sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  }
  read_transaction(const read_transaction&) = delete;
  read_transaction& operator=(const read_transaction&) = delete;

private:
  sqlite3* db_;
};

std::int64_t pragma_integer(sqlite3* db, const char* pragma) {
  statement st(db, pragma);
  return st.step() ? st.integer(0) : 0;
}

std::string pragma_text(sqlite3* db, const char* pragma) {
  statement st(db, pragma);
  return st.step() ? st.text(0) : std::string();
}

void migrate(sqlite3* db) {
  for (int version = 0; version < model_store::current_schema_version; ++version) {
    write_transaction tx(db);
    // Read again under the write lock: another process may have migrated meanwhile.
    if (pragma_integer(db, "PRAGMA user_version") > version)
      continue;
    const std::string script(migrations[static_cast<std::size_t>(version)]);
    if (sqlite3_exec(db, script.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      fail(db, "migration to schema version " + std::to_string(version + 1));
    if (version == 0)
      exec(db, ("PRAGMA application_id = " + std::to_string(application_id)).c_str());
    exec(db, ("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
    tx.commit();
  }
}

user_metadata read_metadata(sqlite3* db, const std::string& model_id) {
  user_metadata m;
  statement row(db, "SELECT name, description, author, license, source, version, custom_json, revision,"
                    " created_at_ms, updated_at_ms, pinned, priority FROM user_metadata WHERE model_id = ?");
  row.bind(model_id);
  if (!row.step())
    return m;
  m.name = row.optional_text(0);
  m.description = row.optional_text(1);
  m.author = row.optional_text(2);
  m.license = row.optional_text(3);
  m.source = row.optional_text(4);
  m.version = row.optional_text(5);
  m.custom_json = row.text(6);
  m.revision = row.integer(7);
  m.created_at_ms = row.integer(8);
  m.updated_at_ms = row.integer(9);
  if (auto pinned = row.optional_integer(10))
    m.pinned = *pinned != 0;
  m.priority = row.optional_text(11);
  statement tags(db, "SELECT tag FROM user_metadata_tags WHERE model_id = ? ORDER BY position");
  tags.bind(model_id);
  while (tags.step())
    m.tags.push_back(tags.text(0));
  return m;
}

template <class T>
void apply_field(std::optional<T>& field, const std::optional<T>& patch) {
  if (patch)
    field = *patch;
}

} // namespace

std::variant<std::unique_ptr<model_store>, std::string> model_store::open(const std::filesystem::path& database_file) {
  const std::string file = database_file.string();
  const auto refuse = [&](std::string_view why) {
    return std::string("cannot use ") + file + " as the model store: " + std::string(why);
  };
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  std::unique_ptr<model_store> store(new model_store(db));
  if (rc != SQLITE_OK)
    return refuse(db == nullptr ? sqlite3_errstr(rc) : sqlite3_errmsg(db));
  try {
    sqlite3_busy_timeout(db, 5000);
    // The first read of the header tells a database from any other file.
    const int probe = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
    if (probe == SQLITE_NOTADB)
      return refuse("it is not an SQLite database");
    if (probe != SQLITE_OK)
      return refuse(sqlite3_errmsg(db));
    const std::int64_t version = pragma_integer(db, "PRAGMA user_version");
    if (sqlite3_db_readonly(db, "main") == 1)
      return refuse("the file is read-only");
    const std::int64_t app_id = pragma_integer(db, "PRAGMA application_id");
    if (app_id != 0 && app_id != application_id)
      return refuse("it belongs to another application (application_id " + std::to_string(app_id) + ")");
    if (version > current_schema_version)
      return refuse("its schema version " + std::to_string(version) + " is newer than the " +
                    std::to_string(current_schema_version) + " this build knows; run a newer modeld");
    const char* filename = sqlite3_db_filename(db, "main");
    const bool in_memory = filename == nullptr || filename[0] == '\0';
    const std::string journal = pragma_text(db, "PRAGMA journal_mode = WAL");
    if (journal != "wal" && !(in_memory && journal == "memory"))
      return refuse("cannot switch to the WAL journal (journal mode stayed '" + journal + "')");
    exec(db, "PRAGMA synchronous = FULL");
    exec(db, "PRAGMA foreign_keys = ON");
    migrate(db);
  } catch (const store_error& e) {
    return refuse(e.what());
  }
  return store;
}

model_store::model_store(sqlite3* db) : db_(db) {}

model_store::~model_store() { sqlite3_close_v2(db_); }

int model_store::schema_version() const { return static_cast<int>(pragma_integer(db_, "PRAGMA user_version")); }

std::vector<catalog_entry> model_store::load_catalog() const {
  statement st(db_, "SELECT model_id, root, path, format, size_bytes, mtime_ns, architecture, type, precision,"
                    " parameter_count, components_json, embedded_json, sha256, autov2, discovered_at_ms,"
                    " updated_at_ms, is_valid, invalid_reason FROM catalog ORDER BY model_id");
  std::vector<catalog_entry> entries;
  while (st.step()) {
    catalog_entry& e = entries.emplace_back();
    e.model_id = st.text(0);
    e.root = st.text(1);
    e.path = st.text(2);
    e.format = st.text(3);
    e.size_bytes = st.unsigned_integer(4);
    e.mtime_ns = st.integer(5);
    e.architecture = st.text(6);
    e.type = st.text(7);
    e.precision = st.text(8);
    e.parameter_count = st.unsigned_integer(9);
    e.components_json = st.text(10);
    e.embedded_json = st.text(11);
    e.sha256 = st.text(12);
    e.autov2 = st.text(13);
    e.discovered_at_ms = st.integer(14);
    e.updated_at_ms = st.integer(15);
    e.is_valid = st.integer(16) != 0;
    e.invalid_reason = st.text(17);
  }
  return entries;
}

void model_store::apply_scan(const scan_changes& changes) {
  write_transaction tx(db_);
  // Removals first: an id in both lists ends up as upserted.
  statement remove(db_, "DELETE FROM catalog WHERE model_id = ?");
  for (const auto& model_id : changes.removals) {
    remove.bind(model_id).run();
    remove.reset();
  }
  // An existing row keeps discovered_at_ms; everything else, checksums included, is the scan's.
  statement upsert(db_, R"sql(
    INSERT INTO catalog (model_id, root, path, format, size_bytes, mtime_ns, architecture, type, precision,
                         parameter_count, components_json, embedded_json, sha256, autov2, discovered_at_ms,
                         updated_at_ms, is_valid, invalid_reason)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (model_id) DO UPDATE SET
      root = excluded.root, path = excluded.path, format = excluded.format, size_bytes = excluded.size_bytes,
      mtime_ns = excluded.mtime_ns, architecture = excluded.architecture, type = excluded.type,
      precision = excluded.precision, parameter_count = excluded.parameter_count,
      components_json = excluded.components_json, embedded_json = excluded.embedded_json,
      sha256 = excluded.sha256, autov2 = excluded.autov2,
      updated_at_ms = excluded.updated_at_ms, is_valid = excluded.is_valid, invalid_reason = excluded.invalid_reason
  )sql");
  for (const auto& e : changes.upserts) {
    upsert
        .bind(e.model_id, e.root, e.path, e.format, e.size_bytes, e.mtime_ns, e.architecture, e.type, e.precision,
              e.parameter_count, e.components_json, e.embedded_json, e.sha256, e.autov2, e.discovered_at_ms,
              e.updated_at_ms, static_cast<std::int64_t>(e.is_valid ? 1 : 0), e.invalid_reason)
        .run();
    upsert.reset();
  }
  tx.commit();
}

void model_store::set_checksums(const std::string& model_id, const std::string& sha256, const std::string& autov2) {
  write_transaction tx(db_);
  // No row (the file left the catalog while it was hashed): nothing to update.
  statement(db_, "UPDATE catalog SET sha256 = ?, autov2 = ? WHERE model_id = ?").bind(sha256, autov2, model_id).run();
  tx.commit();
}

void model_store::set_components(const std::string& model_id, std::uint64_t size_bytes, std::int64_t mtime_ns,
                                 const std::string& components_json) {
  write_transaction tx(db_);
  // Only for the file as it was read: a file changed since keeps the components of its new scan.
  statement(db_, "UPDATE catalog SET components_json = ? WHERE model_id = ? AND size_bytes = ? AND mtime_ns = ?")
      .bind(components_json, model_id, static_cast<std::int64_t>(size_bytes), mtime_ns)
      .run();
  tx.commit();
}

void model_store::set_validity(const std::string& model_id, bool is_valid, const std::string& invalid_reason) {
  write_transaction tx(db_);
  // No row (the file left the catalog while it was validated): nothing to update.
  statement(db_, "UPDATE catalog SET is_valid = ?, invalid_reason = ? WHERE model_id = ?")
      .bind(static_cast<std::int64_t>(is_valid ? 1 : 0), is_valid ? std::string() : invalid_reason, model_id)
      .run();
  tx.commit();
}

user_metadata model_store::metadata(const std::string& model_id) const {
  read_transaction tx(db_);
  return read_metadata(db_, model_id);
}

// One put inside the caller's write transaction.
static put_result put_in_transaction(sqlite3* db, const std::string& model_id, const metadata_patch& patch,
                              std::optional<std::int64_t> expected_revision, std::int64_t now_ms) {
  user_metadata m = read_metadata(db, model_id);
  if (expected_revision && *expected_revision != m.revision)
    return {put_outcome::conflict, std::move(m)};

  apply_field(m.name, patch.name);
  apply_field(m.description, patch.description);
  apply_field(m.author, patch.author);
  apply_field(m.license, patch.license);
  apply_field(m.source, patch.source);
  apply_field(m.version, patch.version);
  if (patch.custom_json)
    m.custom_json = *patch.custom_json;
  if (patch.pinned)
    m.pinned = patch.pinned;
  if (patch.priority)
    m.priority = patch.priority;
  if (m.revision == 0)
    m.created_at_ms = now_ms;
  m.updated_at_ms = now_ms;
  ++m.revision;

  statement(db, R"sql(
    INSERT INTO user_metadata (model_id, name, description, author, license, source, version, custom_json,
                               revision, created_at_ms, updated_at_ms, pinned, priority)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (model_id) DO UPDATE SET
      name = excluded.name, description = excluded.description, author = excluded.author,
      license = excluded.license, source = excluded.source, version = excluded.version,
      custom_json = excluded.custom_json, revision = excluded.revision, updated_at_ms = excluded.updated_at_ms,
      pinned = excluded.pinned, priority = excluded.priority
  )sql")
      .bind(model_id, m.name, m.description, m.author, m.license, m.source, m.version, m.custom_json, m.revision,
            m.created_at_ms, m.updated_at_ms, m.pinned, m.priority)
      .run();

  if (patch.tags) {
    m.tags = *patch.tags;
    statement(db, "DELETE FROM user_metadata_tags WHERE model_id = ?").bind(model_id).run();
    statement insert(db, "INSERT INTO user_metadata_tags (model_id, position, tag) VALUES (?, ?, ?)");
    for (std::size_t i = 0; i < m.tags.size(); ++i) {
      insert.bind(model_id, static_cast<std::int64_t>(i), m.tags[i]).run();
      insert.reset();
    }
  }
  return {put_outcome::written, std::move(m)};
}

put_result model_store::put_metadata(const std::string& model_id, const metadata_patch& patch,
                                     std::optional<std::int64_t> expected_revision, std::int64_t now_ms) {
  write_transaction tx(db_);
  auto result = put_in_transaction(db_, model_id, patch, expected_revision, now_ms);
  tx.commit();
  return result;
}

std::vector<put_result> model_store::put_metadata_batch(const std::vector<metadata_put>& puts, std::int64_t now_ms) {
  write_transaction tx(db_);
  std::vector<put_result> results;
  results.reserve(puts.size());
  for (auto& put : puts)
    results.push_back(put_in_transaction(db_, put.model_id, put.patch, put.expected_revision, now_ms));
  tx.commit();
  return results;
}

std::optional<std::string> model_store::cached_validation(const std::string& model_id, const std::string& level,
                                                          std::uint64_t size_bytes, std::int64_t mtime_ns) const {
  statement st(db_, "SELECT result_json FROM validation_results"
                    " WHERE model_id = ? AND level = ? AND size_bytes = ? AND mtime_ns = ?");
  st.bind(model_id, level, size_bytes, mtime_ns);
  if (!st.step())
    return std::nullopt;
  return st.text(0);
}

void model_store::store_validation(const std::string& model_id, const std::string& level, std::uint64_t size_bytes,
                                   std::int64_t mtime_ns, const std::string& result_json, std::int64_t now_ms) {
  write_transaction tx(db_);
  statement(db_, R"sql(
    INSERT INTO validation_results (model_id, level, size_bytes, mtime_ns, result_json, validated_at_ms)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (model_id, level) DO UPDATE SET
      size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns, result_json = excluded.result_json,
      validated_at_ms = excluded.validated_at_ms
  )sql")
      .bind(model_id, level, size_bytes, mtime_ns, result_json, now_ms)
      .run();
  tx.commit();
}

std::vector<std::string> model_store::benchmark_results(const std::string& model_id) const {
  statement st(db_, "SELECT result_json FROM benchmark_results WHERE model_id = ? ORDER BY id");
  st.bind(model_id);
  std::vector<std::string> results;
  while (st.step())
    results.push_back(st.text(0));
  return results;
}

void model_store::add_benchmark_result(const std::string& model_id, const std::string& result_json,
                                       std::int64_t now_ms) {
  write_transaction tx(db_);
  statement(db_, "INSERT INTO benchmark_results (model_id, result_json, created_at_ms) VALUES (?, ?, ?)")
      .bind(model_id, result_json, now_ms)
      .run();
  tx.commit();
}

} // namespace modeld::catalog
