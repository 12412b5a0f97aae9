#include "gpu/cpu_copy.hpp"

#include "gpu/cancel_flag.hpp"
#include "gpu/fresh_memory.hpp"

#include <algorithm>
#include <mutex>

namespace modeld::gpu {

byte_source source_of(const host_buffer& file) {
  return {&file, [&file](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) -> std::optional<std::string> {
            const auto* from = file.bytes_at(offset, bytes);
            if (from == nullptr)
              return not_in_host_memory(offset, bytes);
            stream_copy(to, from, bytes);
            return std::nullopt;
          }};
}

byte_source source_of(const file_reader& file) {
  return {nullptr, [&file](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) {
            return file.read_exactly(to, offset, bytes);
          }};
}

std::optional<std::string> copy_in_parallel(const std::vector<raw_copy>& copies, const byte_source& source,
                                            const std::atomic<bool>* cancel, progress_meter& progress) {
  constexpr std::uint64_t chunk = 8 << 20;
  std::uint64_t total = 0;
  for (auto& c : copies)
    total += c.bytes;
  std::mutex guard;
  std::optional<std::string> failure;
  std::atomic<bool> stopped{false};
  auto stop = [&](std::string reason) {
    const std::lock_guard lock(guard);
    if (!failure)
      failure = std::move(reason);
    stopped = true;
  };
  run_in_shares(total, [&](std::uint64_t begin, std::uint64_t end) {
    std::uint64_t position = 0;
    for (auto& c : copies) {
      const auto from = std::max(begin, position), to = std::min(end, position + c.bytes);
      for (auto at = from; at < to; at += chunk) {
        if (stopped)
          return;
        if (cancelled(cancel))
          return stop("cancelled before all tensors were copied");
        if (auto error = source.read(c.to + (at - position), c.from + (at - position), std::min(chunk, to - at)))
          return stop(std::move(*error));
        progress.add(std::min(chunk, to - at));
      }
      position += c.bytes;
    }
  });
  return failure;
}

} // namespace modeld::gpu
