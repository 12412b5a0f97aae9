// A file's bytes held in several blocks of host memory, some of them shared with other files:
// the RAM cache keeps a component that fine-tunes of one base model carry byte for byte (a VAE,
// a text encoder) once, in a block of its own, and each file that has it points into that
// block. Loads read such a file through host_buffer::bytes_at, tensor by tensor, as any other.
#pragma once

#include "gpu/model_loader.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace modeld::gpu {

// A block of host memory a segmented file uses; `identity` names a shared component's block
// (its formats::component_identity), empty for the file's own bytes.
struct host_block {
  std::string identity;
  std::shared_ptr<const host_buffer> bytes;
};

// Where a range of the file lies: `length` bytes from `file_offset` of the file are at
// `block_offset` of block `block`.
struct host_extent {
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;
  std::size_t block = 0;
  std::uint64_t block_offset = 0;
};

class segmented_host_buffer final : public host_buffer {
public:
  // A file of `size` bytes over `blocks`; the reason when an extent lies outside its block or the
  // file, or two extents overlap. Bytes no extent covers are not in host memory (bytes_at
  // answers null for them).
  static std::variant<std::shared_ptr<const segmented_host_buffer>, std::string>
  assemble(std::uint64_t size, std::vector<host_block> blocks, std::vector<host_extent> extents);

  const std::uint8_t* data() const override { return nullptr; }
  std::uint64_t size() const override { return size_; }
  bool pinned() const override { return pinned_; }
  const std::uint8_t* bytes_at(std::uint64_t offset, std::uint64_t length) const override;

  const std::vector<host_block>& blocks() const { return blocks_; }

private:
  segmented_host_buffer(std::uint64_t size, std::vector<host_block> blocks, std::vector<host_extent> extents);

  std::uint64_t size_;
  std::vector<host_block> blocks_;
  std::vector<host_extent> extents_; // by file offset
  bool pinned_;
};

} // namespace modeld::gpu
