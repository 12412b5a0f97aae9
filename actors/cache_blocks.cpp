#include "actors/cache_blocks.hpp"

#include "actors/cache.hpp"
#include "actors/epoch.hpp"
#include "gpu/host_segments.hpp"

#include <algorithm>
#include <chrono>

namespace modeld::actors {
namespace {

// Appends `range`, merged into the last one where it follows it in the file.
void append(std::vector<gpu::file_range>& ranges, gpu::file_range range) {
  if (range.length == 0)
    return;
  if (!ranges.empty() && ranges.back().offset + ranges.back().length == range.offset)
    ranges.back().length += range.length;
  else
    ranges.push_back(range);
}

// The bytes of [0, size) that no range of `taken` (sorted, not overlapping) covers.
std::vector<gpu::file_range> rest_of(std::vector<gpu::file_range> taken, std::uint64_t size) {
  std::vector<gpu::file_range> rest;
  std::uint64_t at = 0;
  for (const auto& range : taken) {
    append(rest, {at, range.offset - at});
    at = range.offset + range.length;
  }
  append(rest, {at, size - at});
  return rest;
}

} // namespace

std::uint64_t planned_block::bytes() const {
  std::uint64_t total = 0;
  for (const auto& range : ranges)
    total += range.length;
  return total;
}

std::vector<planned_block> plan_blocks(const formats::model_report& report,
                                       const std::vector<formats::component_identity>& identities) {
  std::vector<planned_block> plan;
  auto grouped = formats::tensors_by_component(report);
  std::vector<gpu::file_range> taken;
  for (const auto& component : formats::shareable_components(report)) {
    auto identity = formats::identity_of(identities, component);
    if (!identity)
      continue;
    planned_block block{*identity, component, {}};
    for (const auto& [inner_name, tensor] : grouped.at(component)) {
      append(block.ranges, {tensor->data_begin, tensor->byte_size});
      taken.push_back({tensor->data_begin, tensor->byte_size});
    }
    plan.push_back(std::move(block));
  }
  if (plan.empty())
    return plan;
  std::sort(taken.begin(), taken.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
  for (std::size_t i = 1; i < taken.size(); ++i)
    if (taken[i].offset < taken[i - 1].offset + taken[i - 1].length)
      return {}; // tensors sharing bytes: nothing to gain, and no single block would hold them
  plan.push_back({"", "", rest_of(std::move(taken), report.file.size_bytes)});
  return plan;
}

cache_fetch read_in_blocks(const cached_model& model, const std::vector<planned_block>& plan,
                           const cached_blocks& cached) {
  auto reader = reader_of(model.path, model.file);
  if (auto* refusal = std::get_if<failure>(&reader))
    return failed_fetch(*refusal);
  const auto& file = std::get<gpu::file_reader>(reader);
  if (file.size() != model.report->file.size_bytes)
    return failed_fetch(size_changed(model));
  std::uint64_t to_read = 0;
  for (const auto& block : plan)
    if (block.identity.empty() || cached.count(block.identity) == 0)
      to_read += block.bytes();
  if (auto refusal = host_room_for_bytes(model.model_id, to_read))
    return failed_fetch(*refusal);
  auto started = std::chrono::steady_clock::now();
  std::vector<gpu::host_block> blocks;
  std::vector<gpu::host_extent> extents;
  for (const auto& planned : plan) {
    auto held = planned.identity.empty() ? cached.end() : cached.find(planned.identity);
    std::shared_ptr<const gpu::host_buffer> bytes;
    if (held != cached.end() && held->second->size() == planned.bytes()) {
      bytes = held->second;
    } else {
      auto read = gpu::read_host_ranges(file, planned.ranges);
      if (auto* reason = std::get_if<std::string>(&read))
        return failed_fetch(unreadable(model, *reason));
      bytes = std::move(std::get<std::shared_ptr<const gpu::host_buffer>>(read));
    }
    std::uint64_t packed = 0;
    for (const auto& range : planned.ranges) {
      extents.push_back({range.offset, range.length, blocks.size(), packed});
      packed += range.length;
    }
    blocks.push_back({planned.identity, std::move(bytes)});
  }
  auto assembled = gpu::segmented_host_buffer::assemble(file.size(), std::move(blocks), std::move(extents));
  if (auto* reason = std::get_if<std::string>(&assembled))
    return failed_fetch({errc::internal, "'" + model.path + "' could not be kept in blocks: " + *reason});
  cache_fetch out;
  out.ok = true;
  out.model = model;
  out.model.buffer = std::get<std::shared_ptr<const gpu::segmented_host_buffer>>(assembled);
  out.disk_to_host_ms = ms_since(started);
  return out;
}

} // namespace modeld::actors
