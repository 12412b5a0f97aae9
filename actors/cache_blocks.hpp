// How the RAM cache keeps a file whose shareable components have identities: one block of host
// memory per identified component, shared by every entry whose component has that identity
// (fine-tunes of one base model carry byte-identical VAEs and text encoders), and one block of
// the file's own bytes (its header and every other tensor). A component's block packs its
// tensors in the order of their names inside the component, so every file with that identity
// lays the block out alike and points into a block another file's read filled.
#pragma once

#include "actors/device_messages.hpp"
#include "formats/component_identity.hpp"
#include "gpu/model_loader.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace modeld::actors {

struct planned_block {
  std::string identity;                // empty: the file's own bytes
  std::string component;               // the component it holds; empty for the own block
  std::vector<gpu::file_range> ranges; // the bytes of the file it holds, packed in this order

  std::uint64_t bytes() const;
};

// The blocks of a file (`report`) whose shareable components have `identities`: one per
// identified component, then the own block. None when no identity applies, or when the
// components' bytes overlap (the file is then kept whole).
std::vector<planned_block> plan_blocks(const formats::model_report& report,
                                       const std::vector<formats::component_identity>& identities);

// The component blocks the cache holds, by identity.
using cached_blocks = std::map<std::string, std::shared_ptr<const gpu::host_buffer>>;

// Reads the file of `model` into the blocks `plan` lays out, taking each component block that
// `cached` holds instead of reading its bytes again: a fetch whose buffer is a
// gpu::segmented_host_buffer, timed over what it read. Runs on a reads worker.
cache_fetch read_in_blocks(const cached_model& model, const std::vector<planned_block>& plan,
                           const cached_blocks& cached);

} // namespace modeld::actors
