// The metadata store actor: the only owner of the SQLite store. Runs detached, since every
// write waits for the disk. Keeps the catalog and its user metadata in memory as well, and
// publishes it to the catalog board on every change, so queries touch neither SQLite nor it.
#pragma once

#include "actors/actors.hpp"
#include "actors/catalog_board.hpp"
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
  std::shared_ptr<catalog_board> board;
  shared_records models; // model id -> catalog entry + user metadata, as last published
  struct pending_put {
    metadata_write write;
    caf::typed_response_promise<metadata_written> promise;
  };
  std::vector<pending_put> pending_puts; // written at the next flush
  bool flush_queued = false;
  service_fault fault; // inject_fault in progress
};

metadata_store_actor::behavior_type metadata_store(metadata_store_actor::stateful_pointer<metadata_store_state> self,
                                                   std::shared_ptr<catalog::model_store> store,
                                                   std::shared_ptr<catalog_board> board);

} // namespace modeld::actors
