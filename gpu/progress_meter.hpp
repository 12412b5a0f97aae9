// Progress of work that several threads share (a parallel read or copy): each adds the bytes
// it finished; reports go out at most every 100 ms (and always at the end), one at a time,
// never going backwards. The callback is the `stream: true` progress event of the protocol.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace modeld::gpu {

// done bytes, total bytes, stage ("reading", "copying", "inference")
using progress_callback = std::function<void(std::uint64_t, std::uint64_t, const std::string&)>;

class progress_meter {
public:
  // An empty callback makes every add() a no-op.
  progress_meter(const progress_callback& report, std::string stage, std::uint64_t total)
    : report_(report), stage_(std::move(stage)), total_(total) {}

  void add(std::uint64_t bytes) {
    if (!report_)
      return;
    const std::lock_guard lock(mutex_);
    done_ += bytes;
    const auto now = std::chrono::steady_clock::now();
    if (done_ < total_ && now - last_ < interval)
      return;
    last_ = now;
    report_(done_, total_, stage_);
  }

private:
  static constexpr std::chrono::milliseconds interval{100};
  progress_callback report_;
  std::string stage_;
  std::uint64_t total_;
  std::mutex mutex_;
  std::uint64_t done_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

} // namespace modeld::gpu
