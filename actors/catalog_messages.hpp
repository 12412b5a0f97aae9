// Values exchanged with the metadata store, scanner and validation actors. They never leave
// the process (no remote actors take them), so they travel as unsafe message types instead
// of carrying inspect overloads for every catalog record.
#pragma once

#include "catalog/discovery.hpp"
#include "catalog/records.hpp"
#include "formats/inspect.hpp"

#include <caf/allowed_unsafe_message_type.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace modeld::actors {

struct model_record {
  catalog::catalog_entry entry;
  catalog::user_metadata metadata;
};

struct model_query {
  std::optional<std::string> type;
  std::optional<std::string> architecture;
  std::optional<std::string> format;
  std::optional<std::string> tag;
  std::optional<bool> loaded;
  std::set<std::string> loaded_ids; // models resident on some device now
  std::uint64_t offset = 0;
  std::uint64_t limit = 100;
};

struct model_page {
  std::vector<model_record> models;
  std::uint64_t total = 0; // matching models before paging
};

struct model_lookup {
  bool found = false;
  model_record record;
};

struct metadata_write {
  std::string model_id;
  catalog::metadata_patch patch;
  std::optional<std::int64_t> expected_revision;
};

struct metadata_written {
  bool found = false;
  catalog::put_outcome outcome = catalog::put_outcome::written;
  model_record record; // after the write; on conflict, as it stands
};

struct known_catalog {
  std::map<std::string, catalog::known_file> files;
};

struct scan_summary {
  std::uint64_t added = 0;
  std::uint64_t updated = 0;
  std::uint64_t removed = 0;
  std::uint64_t unchanged = 0;
  std::vector<catalog::scan_error> errors;
};

// A file a request names, resolved inside the roots and opened now (formats::open_beneath):
// whoever reads it later reads through `file`, never by path, so a file swapped for a link
// after this cannot lead outside the roots.
struct located_file {
  bool found = false;
  catalog::scan_error error; // when not found: PATH_NOT_ALLOWED, MODEL_NOT_FOUND or UNREADABLE
  std::string model_id;
  std::string path;
  std::uint64_t size_bytes = 0; // fstat of `file`
  std::int64_t mtime_ns = 0;
  std::shared_ptr<const formats::unique_fd> file;
};

struct validation_cache_key {
  std::string model_id;
  std::string level;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
};

struct validation_record {
  validation_cache_key key;
  std::string result_json;
  std::string sha256; // empty unless comprehensive
  std::string autov2;
};

// Progress of a long validation: done/total bytes and the stage ("hashing").
using progress_sink = std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes, const std::string& stage)>;

// A rescan of every root (empty root) or one root; progress: stream: true (null: none).
struct scan_request {
  std::string root;
  std::shared_ptr<const progress_sink> progress;
};

struct validation_job {
  std::uint64_t ticket = 0; // names this request for drop_atom
  std::string path;
  std::shared_ptr<const formats::unique_fd> file; // opened inside the roots; read through this
  formats::validation_level level = formats::validation_level::standard;
  std::shared_ptr<const progress_sink> progress; // null: no progress wanted
};

struct validation_outcome {
  bool cancelled = false;
  bool describes_file = true; // false: the file changed while it was read (FILE_CHANGED); not remembered
  std::string result_json; // the `data` of post_model_validate
  std::string sha256;
  std::string autov2;
};

} // namespace modeld::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::model_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::model_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::model_lookup)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::metadata_write)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::metadata_written)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::known_catalog)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::scan_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::scan_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::located_file)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::validation_cache_key)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::validation_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::validation_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::actors::validation_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(modeld::catalog::scan_changes)
