// Discovery: walks the model roots and says what changed since the catalog was last
// written, without parsing unchanged files. Also the path policy every request path goes
// through: nothing outside the model roots, no link that leaves them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace modeld::catalog {

// What the catalog holds about a file, to decide whether it changed.
struct known_file {
  std::string root;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;

  bool operator==(const known_file&) const = default;
};

struct discovered_file {
  std::string model_id; // relative to root, '/'-separated
  std::string root;     // canonical root
  std::string path;     // root + "/" + model_id
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
};

// A file the scan did not take: code is PATH_NOT_ALLOWED (a link that leaves every root),
// UNSUPPORTED_FORMAT (content is no model format and the extension is no model extension),
// UNREADABLE, SCAN_LIMIT, or
// DUPLICATE_MODEL_ID (a second root holds a different file under an id already taken).
struct scan_error {
  std::string path;
  std::string code;
  std::string message;

  bool operator==(const scan_error&) const = default;
};

struct discovery_limits {
  std::size_t max_files = 1'000'000; // entries visited per scan
  std::size_t max_depth = 64;
};

struct discovery_result {
  std::vector<discovered_file> changed;   // new, or size/mtime differ from `known`
  std::vector<std::string> unchanged;     // model ids
  std::vector<std::string> removed;       // known ids of the scanned roots no longer found
  std::vector<scan_error> errors;
};

// Walks `roots` (canonical, in order; a file reached through two roots keeps the first),
// or only `only_root` when it is set (it must be one of `roots`). Hidden entries (leading
// '.') are skipped. Directory links are not followed; file links are taken when their
// target lies inside a root, else reported as PATH_NOT_ALLOWED. New or changed files whose
// first bytes are no model format are UNSUPPORTED_FORMAT errors, unless their extension is a
// model extension (formats::formats_for_extension): those are changed whatever their content,
// so that a damaged model file stays in the catalog (marked invalid by its inspection).
discovery_result discover(const std::vector<std::string>& roots, const std::map<std::string, known_file>& known,
                          const discovery_limits& limits = {}, const std::optional<std::string>& only_root = {});

struct resolved_path {
  std::string root;
  std::string model_id;
  std::string path; // canonical
};

// Resolves a client's model_path (absolute, or relative to a root, tried in root order)
// to a regular file inside the roots. Errors: code PATH_NOT_ALLOWED when it lies outside
// every root, leaves through a link or '..', or is not a regular file; MODEL_NOT_FOUND
// when it is inside but does not exist.
std::variant<resolved_path, scan_error> resolve_model_path(const std::vector<std::string>& roots,
                                                            const std::string& model_path);

} // namespace modeld::catalog
