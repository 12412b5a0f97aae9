// Benchmarks of the device actor: the run happens on a detached worker while the device's
// memory for it stays reserved, so accounting holds and status keeps answering.
#pragma once

#include "actors/device_loads.hpp"

namespace modeld::actors {

caf::result<benchmark_reply> start_benchmark(device_pointer self, benchmark_order& order);
// The requester of the benchmark `ticket` went away: it is answered CANCELLED now and its
// worker stops at its next check (its memory stays reserved until then).
void drop_benchmark(device_pointer self, std::uint64_t ticket);

// Reads, loads and runs: what the worker does (blocking).
benchmark_reply run_benchmark_order(const benchmark_order& order, const std::string& device);

} // namespace modeld::actors
