// The metadata store actor: the only owner of the SQLite store. Runs detached, since every
// write waits for the disk. Keeps the catalog and its user metadata in memory as well, so
// queries never touch SQLite.
#pragma once

#include "actors/actors.hpp"
#include "actors/service_faults.hpp"
#include "catalog/model_store.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

namespace modeld::actors {

struct metadata_store_state {
  static inline const char* name = "metadata_store";
  std::shared_ptr<catalog::model_store> store;
  std::map<std::string, model_record> models; // model id -> catalog entry + user metadata
  struct pending_put {
    metadata_write write;
    caf::typed_response_promise<metadata_written> promise;
  };
  std::vector<pending_put> pending_puts; // written at the next flush
  bool flush_queued = false;
  service_fault fault; // inject_fault in progress
};

// True when `record` passes every filter of `query`.
bool matches(const model_record& record, const model_query& query);

metadata_store_actor::behavior_type metadata_store(metadata_store_actor::stateful_pointer<metadata_store_state> self,
                                                   std::shared_ptr<catalog::model_store> store);

} // namespace modeld::actors
