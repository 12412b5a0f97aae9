#include "actors/scanner.hpp"
#include "actors/epoch.hpp"
#include "gpu/progress_meter.hpp"

#include "catalog/report_json.hpp"
#include "formats/identify.hpp"

#include <caf/sec.hpp>

#include <chrono>
#include <filesystem>

#include <sys/stat.h>

namespace modeld::actors {
namespace {

using self_pointer = scanner_actor::stateful_pointer<scanner_state>;

// Opens `file.path` inside `root` and stats it through the descriptor; false (with the refusal in
// `file.error`) when it is gone, not a regular file, or reached through a link that leaves `root`.
bool open_located(const std::string& root, located_file& file) {
  auto opened = formats::open_beneath(root, file.path);
  if (auto* refused = std::get_if<formats::open_refusal>(&opened)) {
    file.error = {file.path, refused->code, refused->message};
    return false;
  }
  auto descriptor = std::make_shared<formats::unique_fd>(std::move(std::get<formats::unique_fd>(opened)));
  struct stat info {};
  if (::fstat(descriptor->get(), &info) != 0) {
    file.error = {file.path, "UNREADABLE", "cannot stat '" + file.path + "'"};
    return false;
  }
  file.size_bytes = static_cast<std::uint64_t>(info.st_size);
  file.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  file.file = std::move(descriptor);
  file.found = true;
  return true;
}

located_file not_found(const std::string& what, std::string message) {
  located_file file;
  file.error = {what, "MODEL_NOT_FOUND", std::move(message)};
  return file;
}

located_file locate_path(const scanner_state& state, const std::string& model_path) {
  auto resolved = catalog::resolve_model_path(state.roots, model_path);
  located_file file;
  if (auto* error = std::get_if<catalog::scan_error>(&resolved)) {
    file.error = *error;
    return file;
  }
  auto& path = std::get<catalog::resolved_path>(resolved);
  file.model_id = path.model_id;
  file.path = path.path;
  open_located(path.root, file);
  return file;
}

caf::error store_down() { return caf::make_error(caf::sec::runtime_error, "the metadata store is restarting"); }

caf::result<scan_summary> scan(self_pointer self, const scan_request& request) {
  auto store = self->state.services->store();
  if (!store)
    return store_down();
  auto promise = self->make_response_promise<scan_summary>();
  self->request(store, caf::infinite, known_atom::value)
    .await(
      [self, promise, request](known_catalog& known) mutable {
        std::optional<std::string> only_root;
        if (!request.root.empty())
          only_root = request.root;
        auto found = catalog::discover(self->state.roots, known.files, {}, only_root);
        catalog::scan_changes changes;
        auto summary = plan_changes(found, known, changes, epoch_ms(),
                                    request.progress ? *request.progress : progress_sink{});
        auto store = self->state.services->store(); // it may have restarted meanwhile
        if (!store) {
          promise.deliver(store_down());
          return;
        }
        self->request(store, caf::infinite, apply_atom::value, std::move(changes))
          .await([promise, summary](ok_atom) mutable { promise.deliver(summary); },
                 [promise](caf::error& error) mutable { promise.deliver(std::move(error)); });
      },
      [promise](caf::error& error) mutable { promise.deliver(std::move(error)); });
  return promise;
}

caf::result<located_file> locate_model(self_pointer self, const std::string& model_id) {
  auto store = self->state.services->store();
  if (!store)
    return store_down();
  auto promise = self->make_response_promise<located_file>();
  self->request(store, caf::infinite, get_atom::value, model_id)
    .await(
      [promise, model_id](model_lookup& lookup) mutable {
        if (!lookup.found) {
          promise.deliver(not_found(model_id, "model '" + model_id + "' is not in the catalog"));
          return;
        }
        located_file file;
        file.model_id = model_id;
        file.path = lookup.record.entry.path;
        if (!open_located(lookup.record.entry.root, file) && file.error.code == "MODEL_NOT_FOUND")
          file.error.message = "the file of model '" + model_id + "' no longer exists";
        promise.deliver(std::move(file));
      },
      [promise](caf::error& error) mutable { promise.deliver(std::move(error)); });
  return promise;
}

} // namespace

scan_summary plan_changes(const catalog::discovery_result& found, const known_catalog& known,
                          catalog::scan_changes& changes, std::int64_t now, const progress_sink& progress) {
  std::uint64_t changed_bytes = 0;
  for (auto& file : found.changed)
    changed_bytes += file.size_bytes;
  gpu::progress_meter meter(progress, "inspecting", changed_bytes);
  scan_summary summary;
  summary.errors = found.errors;
  summary.unchanged = found.unchanged.size();
  for (auto& file : found.changed) {
    auto opened = formats::open_beneath(file.root, file.path);
    meter.add(file.size_bytes);
    if (auto* refused = std::get_if<formats::open_refusal>(&opened)) { // swapped or gone since discovery saw it
      summary.errors.push_back({file.path, refused->code, refused->message});
      continue;
    }
    auto report = formats::inspect_opened(std::move(std::get<formats::unique_fd>(opened)), file.path,
                                          {formats::validation_level::basic, {}, nullptr});
    // A file with a model extension stays in the catalog whatever its content, marked invalid
    // by this inspection, so a damaged model (a broken header, a zero-byte checkpoint) is seen
    // rather than silently left out. When the content named no format, the entry takes the
    // one its extension names, if it names exactly one (.safetensors, .gguf, .onnx, .pkl), else
    // "unknown" (.ckpt, .pt, .bin may hold any of three).
    const auto by_extension = formats::formats_for_extension(report.file.extension);
    if (report.format == formats::model_format::unknown && by_extension.size() == 1)
      report.format = by_extension.front();
    if (report.format == formats::model_format::unknown && by_extension.empty()) {
      summary.errors.push_back({file.path, "UNSUPPORTED_FORMAT", "content is no supported model format"});
      if (known.files.count(file.model_id) > 0) {
        changes.removals.push_back(file.model_id);
        ++summary.removed;
      }
      continue;
    }
    catalog::catalog_entry entry;
    entry.model_id = file.model_id;
    entry.root = file.root;
    entry.path = file.path;
    entry.size_bytes = file.size_bytes;
    entry.mtime_ns = file.mtime_ns;
    entry.discovered_at_ms = now;
    entry.updated_at_ms = now;
    catalog::fill_catalog_entry(entry, report);
    if (known.files.count(file.model_id) > 0)
      ++summary.updated;
    else
      ++summary.added;
    changes.upserts.push_back(std::move(entry));
  }
  changes.removals.insert(changes.removals.end(), found.removed.begin(), found.removed.end());
  summary.removed += found.removed.size();
  return summary;
}

scanner_actor::behavior_type scanner(self_pointer self, std::vector<std::string> roots,
                                     std::shared_ptr<const service_registry> services) {
  self->state.roots = std::move(roots);
  self->state.services = std::move(services);
  return {
    [self](scan_atom, const scan_request& request) { return scan(self, request); },
    [self](resolve_atom, const std::string& name, bool is_path) -> caf::result<located_file> {
      if (is_path)
        return locate_path(self->state, name);
      return locate_model(self, name);
    },
  };
}

} // namespace modeld::actors
