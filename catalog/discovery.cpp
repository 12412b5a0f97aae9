#include "catalog/discovery.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <span>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "formats/confined_open.hpp"
#include "formats/identify.hpp"

namespace modeld::catalog {

namespace fs = std::filesystem;

namespace {

// Changed files are sniffed, unchanged ones never opened. 64 bytes hold the magic of
// safetensors, GGUF, zip and pickle. A file with a model extension (.safetensors, .ckpt, .onnx,
// ...: formats::formats_for_extension) is taken whatever its content: ONNX has no magic (its
// graph field runs far past any prefix), and a damaged model (a broken header, a zero-byte
// checkpoint) must stay visible in the catalog, where the inspection that follows marks it
// invalid. Only a file with neither a model extension nor model content is no model.
constexpr std::size_t sniff_bytes = 64;

bool has_model_extension(const std::string& path) {
  auto extension = fs::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return !formats::formats_for_extension(extension).empty();
}

bool is_hidden(std::string_view name) {
  return !name.empty() && name.front() == '.';
}

// Both arguments canonical (absolute, no "." or "..", no doubled or trailing '/'), so a
// prefix that ends at a separator is a component-wise prefix: /models2 is not inside /models.
bool is_inside(std::string_view root, std::string_view path) {
  if (root == "/")
    return !path.empty() && path.front() == '/';
  return path.starts_with(root) && (path.size() == root.size() || path[root.size()] == '/');
}

// `path` inside `root`, not equal to it.
std::string relative_to(std::string_view root, std::string_view path) {
  return std::string(path.substr(root == "/" ? 1 : root.size() + 1));
}

std::string join(std::string_view root, std::string_view relative) {
  std::string out(root);
  if (out.empty() || out.back() != '/')
    out += '/';
  out += relative;
  return out;
}

std::int64_t mtime_ns_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// The first root (in order) that holds `path`, or none. An empty root stands for one that does
// not exist and holds nothing.
const std::string* root_holding(const std::vector<std::string>& roots, std::string_view path) {
  for (const auto& root : roots)
    if (!root.empty() && is_inside(root, path))
      return &root;
  return nullptr;
}

// Components of a '/'-separated relative path.
std::size_t depth_of(std::string_view relative) {
  return static_cast<std::size_t>(std::count(relative.begin(), relative.end(), '/'));
}

bool has_hidden_component(std::string_view relative) {
  std::size_t start = 0;
  while (start <= relative.size()) {
    const auto slash = relative.find('/', start);
    const auto end = slash == std::string_view::npos ? relative.size() : slash;
    if (is_hidden(relative.substr(start, end - start)))
      return true;
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return false;
}

// Where a link that does not resolve would point: its chain followed by hand (canonical gives up
// at the missing end), then the existing part made canonical. None for a loop.
std::optional<std::string> dangling_target(const fs::path& link) {
  constexpr int max_hops = 40; // the kernel's own limit
  std::error_code ec;
  fs::path current = link;
  for (int hop = 0; hop < max_hops; ++hop) {
    if (!fs::is_symlink(fs::symlink_status(current, ec)))
      break;
    const auto target = fs::read_symlink(current, ec);
    if (ec)
      return std::nullopt;
    current = target.is_absolute() ? target : current.parent_path() / target;
    if (hop + 1 == max_hops)
      return std::nullopt;
  }
  auto weak = fs::weakly_canonical(current, ec);
  if (ec)
    return std::nullopt;
  return weak.string();
}

enum class sniff_outcome { model, not_a_model, unreadable, refused };

struct sniffed {
  sniff_outcome outcome = sniff_outcome::unreadable;
  struct stat st {};
  int error = 0;
  formats::open_refusal refusal; // when refused: swapped for a link that leaves the root, or no regular file
};

// Opens inside `root` (no link may lead out of it, and a file swapped for a FIFO is no regular
// file), and reads its first bytes. Size and mtime come from the same descriptor, so they
// describe the content that was sniffed.
sniffed sniff(const std::string& root, const std::string& path) {
  sniffed out;
  auto opened = formats::open_beneath(root, path);
  if (auto* refused = std::get_if<formats::open_refusal>(&opened)) {
    out.outcome = refused->code == "UNREADABLE" ? sniff_outcome::unreadable : sniff_outcome::refused;
    out.error = EACCES;
    out.refusal = *refused;
    return out;
  }
  const int fd = std::get<formats::unique_fd>(opened).get();
  if (::fstat(fd, &out.st) != 0) {
    out.error = errno;
    return out;
  }
  std::array<std::uint8_t, sniff_bytes> head{};
  std::size_t filled = 0;
  while (filled < head.size()) {
    const auto got = ::read(fd, head.data() + filled, head.size() - filled);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      out.error = errno;
      return out;
    }
    if (got == 0)
      break;
    filled += static_cast<std::size_t>(got);
  }
  const auto format = formats::detect_format(std::span<const std::uint8_t>(head.data(), filled));
  out.outcome = format == formats::model_format::unknown && !has_model_extension(path) ? sniff_outcome::not_a_model
                                                                                      : sniff_outcome::model;
  return out;
}

// One scan. Removal is only ever decided for what the walk actually saw: a directory it could
// not list, one beyond the depth limit, a file it could not open, and everything after the
// entry limit stopped the walk stay in the catalog as they are (neither unchanged nor removed),
// so an unmounted disk or a permission slip never empties the catalog.
class scan {
public:
  scan(const std::vector<std::string>& roots, const std::map<std::string, known_file>& known,
       const discovery_limits& limits, discovery_result& out)
      : roots_(roots), known_(known), limits_(limits), out_(out) {}

  // Walks roots_[index]; `partial` when the other roots are not walked in this scan.
  void walk_root(std::size_t index, bool partial) {
    current_ = index;
    partial_ = partial;
    walked_.insert(roots_[index]);
    if (!walk_directory(roots_[index], "", 0)) {
      unsettled_roots_.insert(roots_[index]);
      stopped_ = true;
    }
  }

  bool stopped() const { return stopped_; }

  // A root that could not be opened at all: none of its ids is decided.
  void unreadable_root(const std::string& root, std::string message) {
    error(root, "UNREADABLE", std::move(message));
  }

  void decide_removals() {
    for (const auto& [model_id, file] : known_) {
      if (!walked_.contains(file.root) || unsettled_roots_.contains(file.root) || kept_ids_.contains(model_id) ||
          undecided_ids_.contains(model_id))
        continue;
      const auto prefixes = unsettled_dirs_.find(file.root);
      if (prefixes != unsettled_dirs_.end() &&
          std::any_of(prefixes->second.begin(), prefixes->second.end(),
                      [&](const std::string& dir) { return model_id.starts_with(dir); }))
        continue;
      out_.removed.push_back(model_id);
    }
  }

private:
  void error(std::string path, std::string code, std::string message) {
    out_.errors.push_back({std::move(path), std::move(code), std::move(message)});
  }

  const std::string& root() const { return roots_[current_]; }

  // `relative` is "" for the root, else "a/b" (no trailing '/'). Returns false when the entry
  // limit stopped the walk.
  bool walk_directory(const std::string& dir, const std::string& relative, std::size_t depth) {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      names.push_back(it->path().filename().string());
    if (ec) {
      error(dir, "UNREADABLE", "cannot list directory: " + ec.message());
      unsettle_dir(relative);
      if (names.empty())
        return true;
    }
    std::sort(names.begin(), names.end());

    for (const auto& name : names) {
      if (++visited_ > limits_.max_files) {
        error(join(dir, name), "SCAN_LIMIT",
              "scan stopped after " + std::to_string(limits_.max_files) + " entries");
        return false;
      }
      if (is_hidden(name))
        continue;
      const auto path = join(dir, name);
      const auto model_id = relative.empty() ? name : relative + "/" + name;
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) { // vanished between listing and lstat: simply not there
          error(path, "UNREADABLE", "cannot stat: " + errno_text(errno));
          undecided_ids_.insert(model_id);
        }
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        if (depth + 1 > limits_.max_depth) {
          error(path, "SCAN_LIMIT", "directory is deeper than " + std::to_string(limits_.max_depth) + " levels");
          unsettle_dir(model_id);
          continue;
        }
        if (!walk_directory(path, model_id, depth + 1))
          return false;
      } else if (S_ISREG(st.st_mode)) {
        // Directories are reached only through real directories below a canonical root, so the
        // walked path is already canonical.
        take_file(model_id, path, st);
      } else if (S_ISLNK(st.st_mode)) {
        take_link(model_id, path);
      }
      // FIFOs, sockets and devices are no model files; nothing to report.
    }
    return true;
  }

  void take_link(const std::string& model_id, const std::string& path) {
    std::error_code ec;
    const auto target = fs::canonical(path, ec);
    if (ec) {
      const auto dangling = dangling_target(path);
      if (dangling && !root_holding(roots_, *dangling))
        error(path, "PATH_NOT_ALLOWED", "link points outside the model roots: " + *dangling);
      else
        error(path, "UNREADABLE", "link cannot be resolved: " + ec.message());
      return;
    }
    const auto canonical = target.string();
    struct stat st {};
    if (::stat(canonical.c_str(), &st) != 0) {
      error(path, "UNREADABLE", "cannot stat link target: " + errno_text(errno));
      undecided_ids_.insert(model_id);
      return;
    }
    // Links to directories are not followed and not reported, wherever they point: one inside
    // the roots would only list files a second time under other ids, one that loops would never
    // end, and one that leaves the roots holds nothing discovery may take. Files inside the roots
    // are found under their real location.
    if (S_ISDIR(st.st_mode))
      return;
    // Model files are opened relative to their own root (formats::open_beneath), so a link is
    // followed only while it stays inside the root it sits in.
    if (!is_inside(root(), canonical)) {
      error(path, "PATH_NOT_ALLOWED", "link points outside its model root: " + canonical);
      return;
    }
    if (!S_ISREG(st.st_mode))
      return;
    // A link to a file the walk finds under its own name would take that file's id (whichever
    // comes first in the walk) and hide its metadata: the file keeps its id, the link is reported.
    auto real_id = relative_to(root(), canonical);
    const auto taken = taken_paths_.find(canonical);
    if (taken != taken_paths_.end())
      real_id = taken->second; // hidden, or reached through another link first
    if (taken != taken_paths_.end() || (!has_hidden_component(real_id) && depth_of(real_id) <= limits_.max_depth)) {
      error(path, "DUPLICATE_FILE", "link to a file catalogued as '" + real_id + "'");
      return;
    }
    take_file(model_id, canonical, st);
  }

  // `canonical` is the file itself for a plain file, the link's target for a link.
  void take_file(const std::string& model_id, const std::string& canonical, const struct stat& st) {
    if (taken_paths_.contains(canonical) || reached_earlier_in_full_scan(canonical))
      return; // the same file was (or, in a full scan, would be) kept under an earlier id
    const auto path = join(root(), model_id);
    if (model_id_taken_by_earlier_root(model_id)) {
      error(path, "DUPLICATE_MODEL_ID",
            "model id '" + model_id + "' is already taken by a file under an earlier model root");
      return;
    }
    taken_paths_.emplace(canonical, model_id);

    discovered_file file{model_id, root(), path, static_cast<std::uint64_t>(st.st_size), mtime_ns_of(st)};
    const auto known = known_.find(model_id);
    if (known != known_.end() && known->second.root == file.root && known->second.size_bytes == file.size_bytes &&
        known->second.mtime_ns == file.mtime_ns) {
      kept_ids_.insert(model_id);
      out_.unchanged.push_back(model_id);
      return;
    }
    const auto head = sniff(root(), canonical);
    switch (head.outcome) {
      case sniff_outcome::unreadable:
        error(path, "UNREADABLE", head.refusal.message.empty() ? "cannot read: " + errno_text(head.error)
                                                                : head.refusal.message);
        undecided_ids_.insert(model_id);
        return;
      case sniff_outcome::refused: // replaced since the lstat (a FIFO, a link out of the root) or gone
        if (head.refusal.code != "MODEL_NOT_FOUND")
          error(path, head.refusal.code, head.refusal.message);
        return;
      case sniff_outcome::not_a_model: // a known id whose file no longer holds a model is removed
        error(path, "UNSUPPORTED_FORMAT", "content is not a known model format");
        return;
      case sniff_outcome::model:
        file.size_bytes = static_cast<std::uint64_t>(head.st.st_size);
        file.mtime_ns = mtime_ns_of(head.st);
        kept_ids_.insert(model_id);
        out_.changed.push_back(std::move(file));
        return;
    }
  }

  // In a scan of one root, a file that also lies, visibly and within the depth limit, under an
  // earlier root would be kept there by a full scan; taking it here too would list it twice.
  // (A link in an earlier root pointing here cannot be seen without walking that root.)
  bool reached_earlier_in_full_scan(const std::string& canonical) const {
    if (!partial_)
      return false;
    for (std::size_t i = 0; i < current_; ++i) {
      if (roots_[i].empty() || !is_inside(roots_[i], canonical) || canonical.size() == roots_[i].size())
        continue;
      const auto relative = relative_to(roots_[i], canonical);
      if (!has_hidden_component(relative) && depth_of(relative) <= limits_.max_depth)
        return true;
    }
    return false;
  }

  // model_id is relative to its root, so two roots may hold different files under one id. The
  // earlier root keeps it: taken in this scan, or, in a scan of one root, known under an earlier
  // root that was not walked now.
  bool model_id_taken_by_earlier_root(const std::string& model_id) const {
    if (kept_ids_.contains(model_id) || undecided_ids_.contains(model_id))
      return true;
    if (!partial_)
      return false;
    const auto known = known_.find(model_id);
    if (known == known_.end())
      return false;
    for (std::size_t i = 0; i < current_; ++i)
      if (!roots_[i].empty() && roots_[i] == known->second.root)
        return true;
    return false;
  }

  void unsettle_dir(const std::string& relative) {
    if (relative.empty())
      unsettled_roots_.insert(root());
    else
      unsettled_dirs_[root()].push_back(relative + "/");
  }

  const std::vector<std::string>& roots_;
  const std::map<std::string, known_file>& known_;
  const discovery_limits& limits_;
  discovery_result& out_;

  std::size_t current_ = 0;
  bool partial_ = false;
  bool stopped_ = false;
  std::size_t visited_ = 0;
  std::unordered_map<std::string, std::string> taken_paths_; // canonical path of a file kept -> its id
  std::unordered_set<std::string> kept_ids_;        // changed or unchanged
  std::unordered_set<std::string> undecided_ids_;   // present, but could not be read
  std::unordered_set<std::string> walked_;          // roots whose ids may be removed
  std::unordered_set<std::string> unsettled_roots_; // walked, but none of their ids is decided
  std::map<std::string, std::vector<std::string>> unsettled_dirs_; // root -> "dir/" prefixes
};

scan_error path_error(std::string path, std::string code, std::string message) {
  return scan_error{std::move(path), std::move(code), std::move(message)};
}

// Canonical forms of the roots that exist; the others hold nothing to resolve.
std::vector<std::string> existing_roots(const std::vector<std::string>& roots) {
  std::vector<std::string> out;
  for (const auto& root : roots) {
    std::error_code ec;
    auto canonical = fs::canonical(root, ec);
    if (!ec)
      out.push_back(canonical.string());
  }
  return out;
}

// `candidate` is absolute and lexically normal (no "." or ".." left). Its directories are
// resolved through any links; the last component is resolved separately so that a link keeps
// its own model id, as discovery gives it.
std::variant<resolved_path, scan_error> resolve_candidate(const std::vector<std::string>& roots,
                                                           const fs::path& candidate, const std::string& asked) {
  std::error_code ec;
  const auto parent = fs::canonical(candidate.parent_path(), ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) {
      std::error_code weak_ec;
      const auto weak = fs::weakly_canonical(candidate, weak_ec).string();
      if (!weak_ec && root_holding(roots, weak))
        return path_error(asked, "MODEL_NOT_FOUND", "no model file at '" + asked + "'");
      return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' is outside the model roots");
    }
    return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' cannot be accessed: " + ec.message());
  }
  const auto location = (parent / candidate.filename()).string();
  const auto* root = root_holding(roots, location);
  if (!root)
    return path_error(asked, "PATH_NOT_ALLOWED",
                      "'" + asked + "' is outside the model roots (resolved to '" + location + "')");
  if (location.size() == root->size())
    return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' is a model root directory, not a model file");

  const auto link_status = fs::symlink_status(location, ec);
  if (!fs::exists(link_status) &&
      (!ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory))
    return path_error(asked, "MODEL_NOT_FOUND", "no model file at '" + asked + "'");
  if (ec)
    return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' cannot be accessed: " + ec.message());
  const auto target = fs::canonical(location, ec);
  if (ec) {
    const auto dangling = dangling_target(location);
    if (!dangling)
      return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' is a link that cannot be resolved: " + ec.message());
    if (!root_holding(roots, *dangling))
      return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' is a link that leaves the model roots");
    return path_error(asked, "MODEL_NOT_FOUND", "'" + asked + "' is a link to a missing file: " + ec.message());
  }
  const auto canonical = target.string();
  if (!root_holding(roots, canonical))
    return path_error(asked, "PATH_NOT_ALLOWED",
                      "'" + asked + "' is a link that leaves the model roots (to '" + canonical + "')");
  const auto status = fs::status(canonical, ec);
  if (ec)
    return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' cannot be accessed: " + ec.message());
  if (fs::is_directory(status))
    return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' is a directory, not a model file");
  if (!fs::is_regular_file(status))
    return path_error(asked, "PATH_NOT_ALLOWED", "'" + asked + "' is not a regular file");
  return resolved_path{*root, relative_to(*root, location), canonical};
}

} // namespace

discovery_result discover(const std::vector<std::string>& roots, const std::map<std::string, known_file>& known,
                          const discovery_limits& limits, const std::optional<std::string>& only_root) {
  discovery_result out;

  // Canonical forms, in order; a root listed twice is walked once. A root that does not resolve
  // keeps its place as an empty string, holds nothing and is not walked.
  std::vector<std::string> canonical_roots;
  std::vector<bool> usable;
  std::vector<std::string> unusable_reason;
  for (const auto& root : roots) {
    std::error_code ec;
    const auto canonical = fs::canonical(root, ec);
    std::string reason;
    if (ec)
      reason = "model root cannot be resolved: " + ec.message();
    else if (!fs::is_directory(canonical, ec))
      reason = "model root is not a directory";
    canonical_roots.push_back(reason.empty() ? canonical.string() : std::string());
    usable.push_back(reason.empty());
    unusable_reason.push_back(std::move(reason));
  }

  std::optional<std::size_t> only;
  if (only_root) {
    std::error_code ec;
    const auto canonical = fs::canonical(*only_root, ec);
    for (std::size_t i = 0; i < roots.size() && !only; ++i)
      if (roots[i] == *only_root || (!ec && usable[i] && canonical_roots[i] == canonical.string()))
        only = i;
    if (!only) {
      out.errors.push_back({*only_root, "PATH_NOT_ALLOWED", "'" + *only_root + "' is not one of the model roots"});
      return out;
    }
  }

  scan walk(canonical_roots, known, limits, out);
  for (std::size_t i = 0; i < canonical_roots.size() && !walk.stopped(); ++i) {
    if (only && i != *only)
      continue;
    if (!usable[i]) {
      walk.unreadable_root(roots[i], unusable_reason[i]);
      continue;
    }
    if (std::find(canonical_roots.begin(), canonical_roots.begin() + static_cast<std::ptrdiff_t>(i),
                  canonical_roots[i]) != canonical_roots.begin() + static_cast<std::ptrdiff_t>(i))
      continue;
    walk.walk_root(i, only.has_value());
  }
  walk.decide_removals();
  return out;
}

std::variant<resolved_path, scan_error> resolve_model_path(const std::vector<std::string>& roots,
                                                            const std::string& model_path) {
  if (model_path.empty())
    return path_error(model_path, "PATH_NOT_ALLOWED", "empty model path");
  if (model_path.find('\0') != std::string::npos)
    return path_error(model_path, "PATH_NOT_ALLOWED", "model path contains a NUL byte");
  const auto canonical_roots = existing_roots(roots);
  if (canonical_roots.empty())
    return path_error(model_path, "PATH_NOT_ALLOWED", "no model root exists");

  const fs::path asked(model_path);
  if (asked.is_absolute()) {
    auto candidate = asked.lexically_normal();
    if (!candidate.has_filename())
      candidate = candidate.parent_path(); // "/models/dir/" names the directory
    return resolve_candidate(canonical_roots, candidate, model_path);
  }

  auto relative = asked.lexically_normal();
  if (!relative.has_filename())
    relative = relative.parent_path();
  if (!relative.empty() && *relative.begin() == "..")
    return path_error(model_path, "PATH_NOT_ALLOWED", "'" + model_path + "' leaves the model roots through '..'");
  // The first root where the path exists decides, as in discovery.
  for (const auto& root : canonical_roots) {
    const auto candidate = relative == "." ? fs::path(root) : (fs::path(root) / relative).lexically_normal();
    auto result = resolve_candidate(canonical_roots, candidate, model_path);
    const auto* error = std::get_if<scan_error>(&result);
    if (!error || error->code != "MODEL_NOT_FOUND")
      return result;
  }
  return path_error(model_path, "MODEL_NOT_FOUND", "no model file '" + model_path + "' under any model root");
}

} // namespace modeld::catalog
