// The SQLite store of the catalog, user metadata, validation results and benchmark
// results. WAL journal, synchronous=FULL: a call that returned has reached the disk, so a
// kill -9 right after an acknowledgement loses nothing. Schema versions are migrated in
// order at open. Not thread-safe: one owner (the metadata store actor) uses it.
#pragma once

#include "catalog/records.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

struct sqlite3;

namespace modeld::catalog {

// A failed SQLite call (disk full, I/O error, corrupt file).
struct store_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class model_store {
public:
  // Opens or creates the database and migrates it to the current schema; a reason on
  // failure (unwritable directory, not a database, newer schema than this build knows).
  static std::variant<std::unique_ptr<model_store>, std::string> open(const std::filesystem::path& database_file);
  ~model_store();
  model_store(const model_store&) = delete;
  model_store& operator=(const model_store&) = delete;

  // 1: catalog, user metadata, validation and benchmark results; 2: catalog validity.
  static constexpr int current_schema_version = 3;
  int schema_version() const;

  // Catalog.
  std::vector<catalog_entry> load_catalog() const;
  void apply_scan(const scan_changes& changes);
  void set_checksums(const std::string& model_id, const std::string& sha256, const std::string& autov2);
  // The validity of the file's latest inspection (a validation of it as it is catalogued);
  // invalid_reason is stored empty when valid.
  // The components of a catalogued file (their identities added), when the row still describes
  // the file of that size and mtime.
  void set_components(const std::string& model_id, std::uint64_t size_bytes, std::int64_t mtime_ns,
                      const std::string& components_json);
  void set_validity(const std::string& model_id, bool is_valid, const std::string& invalid_reason);

  // User metadata; kept when a file leaves the catalog, so it is back when the file is.
  user_metadata metadata(const std::string& model_id) const; // revision 0 when never written
  // Writes `patch` over the current metadata; with `expected_revision` that differs from
  // the current one, writes nothing and answers conflict.
  put_result put_metadata(const std::string& model_id, const metadata_patch& patch,
                          std::optional<std::int64_t> expected_revision, std::int64_t now_ms);
  // Several puts in one transaction (one disk flush), applied in order, each with its own
  // outcome: the group commit of concurrent writers.
  std::vector<put_result> put_metadata_batch(const std::vector<metadata_put>& puts, std::int64_t now_ms);

  // Validation results, reused while the file's size and mtime are unchanged.
  std::optional<std::string> cached_validation(const std::string& model_id, const std::string& level,
                                               std::uint64_t size_bytes, std::int64_t mtime_ns) const;
  void store_validation(const std::string& model_id, const std::string& level, std::uint64_t size_bytes,
                        std::int64_t mtime_ns, const std::string& result_json, std::int64_t now_ms);

  // Benchmark results history (JSON objects), oldest first.
  std::vector<std::string> benchmark_results(const std::string& model_id) const;
  void add_benchmark_result(const std::string& model_id, const std::string& result_json, std::int64_t now_ms);

private:
  explicit model_store(sqlite3* db);
  sqlite3* db_;
};

} // namespace modeld::catalog
