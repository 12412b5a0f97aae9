// The scanner actor: keeps the catalog in step with the model roots (discovery, then a
// basic inspection of each new or changed file) and resolves the files requests name.
// Detached: it walks directories and reads files.
#pragma once

#include "actors/actors.hpp"

#include <string>
#include <vector>

namespace modeld::actors {

struct scanner_state {
  static inline const char* name = "scanner";
  std::vector<std::string> roots; // canonical, in --model-root order
  metadata_store_actor store;
};

// Catalog changes for what discovery found: each new or changed file is inspected at the
// basic level; files whose content is no model format become errors instead.
scan_summary plan_changes(const catalog::discovery_result& found, const known_catalog& known,
                          catalog::scan_changes& changes, std::int64_t now_ms);

scanner_actor::behavior_type scanner(scanner_actor::stateful_pointer<scanner_state> self,
                                     std::vector<std::string> roots, metadata_store_actor store);

} // namespace modeld::actors
