// The cancel flag of a load or benchmark request, read between the steps of its work.
#pragma once

#include <atomic>

namespace modeld::gpu {

// True once the requester raised `flag`; a request without one (null) is never cancelled.
inline bool cancelled(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(std::memory_order_relaxed); }

} // namespace modeld::gpu
