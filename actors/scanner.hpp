// The scanner actor: keeps the catalog in step with the model roots (discovery, then a
// basic inspection of each new or changed file) and resolves the files requests name.
// Detached: it walks directories and reads files.
#pragma once

#include "actors/actors.hpp"
#include "actors/service_registry.hpp"

#include <string>
#include <vector>

namespace modeld::actors {

struct scanner_state {
  static inline const char* name = "scanner";
  std::vector<std::string> roots; // canonical, in --model-root order
  std::shared_ptr<const service_registry> services; // the metadata store, looked up at each use
};

// Catalog changes for what discovery found: each new or changed file is inspected at the
// basic level (its validity goes into the entry); files whose content is no model format and
// whose extension is no model extension become errors instead. `progress`
// (optional) hears "inspecting", in bytes of the changed files.
scan_summary plan_changes(const catalog::discovery_result& found, const known_catalog& known,
                          catalog::scan_changes& changes, std::int64_t now_ms,
                          const progress_sink& progress = {});

scanner_actor::behavior_type scanner(scanner_actor::stateful_pointer<scanner_state> self,
                                     std::vector<std::string> roots, std::shared_ptr<const service_registry> services);

} // namespace modeld::actors
