// Copies of a load's tensor bytes into the memory of a virtual CPU device, from a host buffer or
// straight from the file, one share of the bytes per core. Free of torch: model_loader.cpp lays
// the tensors over the memory these copies fill.
#pragma once

#include "gpu/file_reader.hpp"
#include "gpu/model_loader.hpp"
#include "gpu/progress_meter.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace modeld::gpu {

// Where a CPU load's bytes come from: `read(to, offset, bytes)` puts bytes [offset, offset +
// bytes) of the file at `to` (the reason on failure). `host` is the file in host memory, or null
// when the bytes come straight from the file, where every tensor keeps its stored type.
struct byte_source {
  const host_buffer* host = nullptr;
  std::function<std::optional<std::string>(std::uint8_t*, std::uint64_t, std::uint64_t)> read;
};

// Streamed copies out of the buffer (stream_copy: the device's copy is not read again soon).
byte_source source_of(const host_buffer& file);
// pread from the file, never a mapping: a file truncated meanwhile is an error, not a crash.
byte_source source_of(const file_reader& file);

struct raw_copy {
  std::uint8_t* to;
  std::uint64_t from; // offset of the bytes in the source
  std::uint64_t bytes;
};

// Runs `copies` with one share of the bytes per core (run_in_shares). Cancel is checked between
// 8 MiB chunks, each of which counts in `progress`. The reason when a read failed or the load
// was cancelled.
std::optional<std::string> copy_in_parallel(const std::vector<raw_copy>& copies, const byte_source& source,
                                            const std::atomic<bool>* cancel, progress_meter& progress);

} // namespace modeld::gpu
