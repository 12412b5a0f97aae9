// inspect overloads for the catalog's records, so the messages that carry them can be copied,
// printed and serialized by CAF (and so cross a node). Every field is listed: a field left out
// would be lost on the way, which tests/actors/message_serialization_test.cpp catches.
#pragma once

#include "catalog/discovery.hpp"
#include "catalog/optional_field.hpp"
#include "catalog/records.hpp"

namespace modeld::catalog {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_entry& x) {
  return f(x.model_id, x.root, x.path, x.format, x.size_bytes, x.mtime_ns, x.architecture, x.type, x.precision,
           x.parameter_count, x.components_json, x.embedded_json, x.sha256, x.autov2, x.is_valid,
           x.invalid_reason, x.discovered_at_ms, x.updated_at_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_metadata& x) {
  return f(optional_of(x.name), optional_of(x.description), optional_of(x.author), optional_of(x.license),
           optional_of(x.source), optional_of(x.version), x.tags, x.custom_json, optional_of(x.pinned),
           optional_of(x.priority), x.revision, x.created_at_ms, x.updated_at_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_patch& x) {
  return f(optional_of(x.name), optional_of(x.description), optional_of(x.author), optional_of(x.license),
           optional_of(x.source), optional_of(x.version), optional_of(x.tags), optional_of(x.custom_json),
           optional_of(x.pinned), optional_of(x.priority));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_changes& x) {
  return f(x.upserts, x.removals);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, known_file& x) {
  return f(x.root, x.size_bytes, x.mtime_ns);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_error& x) {
  return f(x.path, x.code, x.message);
}

} // namespace modeld::catalog
