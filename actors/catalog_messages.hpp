// Values exchanged with the metadata store, scanner and validation actors. Every one has an
// inspect overload (every field), so it can be serialized and cross a node; an open file or a
// progress callback in one is a node-local reference (local_ref.hpp).
#pragma once

#include "actors/local_ref.hpp"
#include "catalog/discovery.hpp"
#include "catalog/record_serialization.hpp"
#include "catalog/records.hpp"
#include "formats/component_identity.hpp"
#include "formats/inspect.hpp"

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace modeld::formats {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_identity& x) {
  return f(caf::meta::type_name("component_identity"), x.component, x.identity);
}

} // namespace modeld::formats

namespace modeld::actors {

struct model_record {
  catalog::catalog_entry entry;
  catalog::user_metadata metadata;

  bool operator==(const model_record&) const = default;
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

  bool operator==(const model_query&) const = default;
};

struct model_page {
  std::vector<model_record> models;
  std::uint64_t total = 0; // matching models before paging

  bool operator==(const model_page&) const = default;
};

struct model_lookup {
  bool found = false;
  model_record record;

  bool operator==(const model_lookup&) const = default;
};

struct metadata_write {
  std::string model_id;
  catalog::metadata_patch patch;
  std::optional<std::int64_t> expected_revision;

  bool operator==(const metadata_write&) const = default;
};

struct metadata_written {
  bool found = false;
  catalog::put_outcome outcome = catalog::put_outcome::written;
  model_record record; // after the write; on conflict, as it stands

  bool operator==(const metadata_written&) const = default;
};

struct known_catalog {
  std::map<std::string, catalog::known_file> files;

  bool operator==(const known_catalog&) const = default;
};

struct scan_summary {
  std::uint64_t added = 0;
  std::uint64_t updated = 0;
  std::uint64_t removed = 0;
  std::uint64_t unchanged = 0;
  std::vector<catalog::scan_error> errors;

  bool operator==(const scan_summary&) const = default;
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

  bool operator==(const validation_cache_key&) const = default;
};

struct validation_record {
  validation_cache_key key;
  std::string result_json;
  std::string sha256; // empty unless comprehensive
  std::string autov2;

  bool operator==(const validation_record&) const = default;
};

// The component identities a load computed for a file of this size and mtime: the catalog
// keeps them, so the next load of the file knows them before it reads a byte.
struct identified_components {
  std::string model_id;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
  std::vector<formats::component_identity> identities;

  bool operator==(const identified_components&) const = default;
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

  bool operator==(const validation_outcome&) const = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_record& x) {
  return f(caf::meta::type_name("model_record"), x.entry, x.metadata);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_query& x) {
  return f(caf::meta::type_name("model_query"), catalog::optional_of(x.type), catalog::optional_of(x.architecture),
           catalog::optional_of(x.format), catalog::optional_of(x.tag), catalog::optional_of(x.loaded), x.loaded_ids, x.offset, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_page& x) {
  return f(caf::meta::type_name("model_page"), x.models, x.total);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_lookup& x) {
  return f(caf::meta::type_name("model_lookup"), x.found, x.record);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_write& x) {
  return f(caf::meta::type_name("metadata_write"), x.model_id, x.patch, catalog::optional_of(x.expected_revision));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_written& x) {
  return f(caf::meta::type_name("metadata_written"), x.found, x.outcome, x.record);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, known_catalog& x) {
  return f(caf::meta::type_name("known_catalog"), x.files);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_summary& x) {
  return f(caf::meta::type_name("scan_summary"), x.added, x.updated, x.removed, x.unchanged, x.errors);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, validation_cache_key& x) {
  return f(caf::meta::type_name("validation_cache_key"), x.model_id, x.level, x.size_bytes, x.mtime_ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, identified_components& x) {
  return f(caf::meta::type_name("identified_components"), x.model_id, x.size_bytes, x.mtime_ns, x.identities);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, validation_record& x) {
  return f(caf::meta::type_name("validation_record"), x.key, x.result_json, x.sha256, x.autov2);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, validation_outcome& x) {
  return f(caf::meta::type_name("validation_outcome"), x.cancelled, x.describes_file, x.result_json, x.sha256,
           x.autov2);
}

// A progress callback and an open file travel as node-local references (local_ref.hpp).

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_request& x) {
  return f(caf::meta::type_name("scan_request"), x.root, local(x.progress));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, located_file& x) {
  return f(caf::meta::type_name("located_file"), x.found, x.error, x.model_id, x.path, x.size_bytes, x.mtime_ns,
           local(x.file));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, validation_job& x) {
  return f(caf::meta::type_name("validation_job"), x.ticket, x.path, local(x.file), x.level, local(x.progress));
}

} // namespace modeld::actors
