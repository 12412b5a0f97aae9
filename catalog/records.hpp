// What the catalog knows about a model file, and what users wrote about it. Plain values
// shared by the store, discovery and the actors; JSON-shaped parts travel as JSON text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modeld::catalog {

struct catalog_entry {
  std::string model_id;                // path relative to its root, '/'-separated, extension kept
  std::string root;                    // the canonical model root it was found under
  std::string path;                    // absolute path as discovered (root + "/" + model_id)
  std::string format = "unknown";      // PROTOCOL.md vocabulary
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;           // st_mtim of the file, nanoseconds since the epoch
  std::string architecture = "unknown";
  std::string type = "unknown";
  std::string precision = "unknown";
  std::uint64_t parameter_count = 0;
  std::string components_json = "[]";  // [{name, tensor_count, parameter_count, bytes, dtypes[]}]
  std::string embedded_json = "{}";    // the file's own metadata, string -> string
  std::string sha256;                  // empty until a comprehensive validation computed it
  std::string autov2;
  // From the last inspection of the file: the scan's basic one, or a later post_model_validate
  // of the same size and mtime. A damaged file (broken header, zero bytes) stays in the catalog
  // with is_valid false; invalid_reason is its first error issue, "CODE: message" (empty when
  // valid).
  bool is_valid = true;
  std::string invalid_reason;
  std::int64_t discovered_at_ms = 0;   // Unix epoch milliseconds
  std::int64_t updated_at_ms = 0;

  bool operator==(const catalog_entry&) const = default;
};

// Fields a user edits; revision 0 means never written.
struct user_metadata {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> author;
  std::optional<std::string> license;
  std::optional<std::string> source;
  std::optional<std::string> version;
  std::vector<std::string> tags;
  std::string custom_json = "{}"; // kept verbatim
  // The model's defaults for loads that do not say (post_model_load's pinned and priority).
  std::optional<bool> pinned;
  std::optional<std::string> priority; // low, normal or high
  std::int64_t revision = 0;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;

  bool operator==(const user_metadata&) const = default;
};

// A partial update: an absent field stays as it is.
struct metadata_patch {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> author;
  std::optional<std::string> license;
  std::optional<std::string> source;
  std::optional<std::string> version;
  std::optional<std::vector<std::string>> tags; // already normalized
  std::optional<std::string> custom_json;
  std::optional<bool> pinned;
  std::optional<std::string> priority;

  bool operator==(const metadata_patch&) const = default;
};

struct metadata_put {
  std::string model_id;
  metadata_patch patch;
  std::optional<std::int64_t> expected_revision;
};

enum class put_outcome { written, conflict };

struct put_result {
  put_outcome outcome = put_outcome::written;
  user_metadata metadata; // after the write; on conflict, the current state
};

// What a scan changes in the catalog, applied in one transaction.
struct scan_changes {
  std::vector<catalog_entry> upserts;
  std::vector<std::string> removals; // model ids

  bool operator==(const scan_changes&) const = default;
};

} // namespace modeld::catalog
