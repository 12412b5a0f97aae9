#include "gpu/host_segments.hpp"

#include <algorithm>

namespace modeld::gpu {

std::variant<std::shared_ptr<const segmented_host_buffer>, std::string>
segmented_host_buffer::assemble(std::uint64_t size, std::vector<host_block> blocks, std::vector<host_extent> extents) {
  std::sort(extents.begin(), extents.end(), [](auto& a, auto& b) { return a.file_offset < b.file_offset; });
  std::uint64_t covered = 0; // the end of the extents so far
  for (const auto& e : extents) {
    const auto where = std::to_string(e.file_offset) + "+" + std::to_string(e.length);
    if (e.block >= blocks.size() || !blocks[e.block].bytes)
      return "bytes " + where + " name a block that is not there";
    const auto block_size = blocks[e.block].bytes->size();
    if (e.block_offset > block_size || e.length > block_size - e.block_offset)
      return "bytes " + where + " lie past the end of their block (" + std::to_string(block_size) + " bytes)";
    if (e.file_offset > size || e.length > size - e.file_offset)
      return "bytes " + where + " lie past the end of the file (" + std::to_string(size) + " bytes)";
    if (e.file_offset < covered)
      return "bytes " + where + " overlap the bytes before them";
    covered = e.file_offset + e.length;
  }
  return std::shared_ptr<const segmented_host_buffer>(
    new segmented_host_buffer(size, std::move(blocks), std::move(extents)));
}

segmented_host_buffer::segmented_host_buffer(std::uint64_t size, std::vector<host_block> blocks,
                                             std::vector<host_extent> extents)
  : size_(size), blocks_(std::move(blocks)), extents_(std::move(extents)),
    pinned_(std::all_of(blocks_.begin(), blocks_.end(), [](auto& b) { return b.bytes->pinned(); })) {}

const std::uint8_t* segmented_host_buffer::bytes_at(std::uint64_t offset, std::uint64_t length) const {
  // The last extent that starts at or before `offset`.
  auto after = std::upper_bound(extents_.begin(), extents_.end(), offset,
                                [](std::uint64_t at, const host_extent& e) { return at < e.file_offset; });
  if (after == extents_.begin())
    return nullptr;
  const auto& e = *std::prev(after);
  const auto into = offset - e.file_offset;
  if (into > e.length || length > e.length - into)
    return nullptr;
  return blocks_[e.block].bytes->bytes_at(e.block_offset + into, length);
}

} // namespace modeld::gpu
