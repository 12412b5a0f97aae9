#include "gpu/fresh_memory.hpp"
#include "gpu/progress_meter.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

using namespace modeld::gpu;

TEST_CASE("stream_copy copies exactly, whatever the alignment and length", "[gpu][fresh_memory]") {
  std::vector<std::uint8_t> source(4096 + 200);
  for (std::size_t i = 0; i < source.size(); ++i)
    source[i] = static_cast<std::uint8_t>(i * 131 + 7);
  for (std::size_t to_offset : {0, 1, 7, 15, 16, 33}) {
    for (std::size_t from_offset : {0, 3, 16}) {
      for (std::size_t length : {0, 1, 15, 16, 63, 64, 65, 127, 1000, 4096}) {
        std::vector<std::uint8_t> target(length + 64, 0xEE);
        stream_copy(target.data() + to_offset, source.data() + from_offset, length);
        INFO("to+" << to_offset << " from+" << from_offset << " length " << length);
        REQUIRE(std::memcmp(target.data() + to_offset, source.data() + from_offset, length) == 0);
        // Nothing written outside the destination range.
        for (std::size_t i = 0; i < to_offset; ++i)
          REQUIRE(target[i] == 0xEE);
        for (std::size_t i = to_offset + length; i < target.size(); ++i)
          REQUIRE(target[i] == 0xEE);
      }
    }
  }
}

TEST_CASE("run_in_shares covers the range once, in contiguous shares", "[gpu][fresh_memory]") {
  for (std::uint64_t total : {0ull, 1ull, (16ull << 20) - 1, 40ull << 20, (64ull << 20) + 3}) {
    std::mutex guard;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> shares;
    run_in_shares(total, [&](std::uint64_t begin, std::uint64_t end) {
      const std::lock_guard lock(guard);
      shares.emplace_back(begin, end);
    });
    std::sort(shares.begin(), shares.end());
    std::uint64_t next = 0;
    for (auto [begin, end] : shares) {
      REQUIRE(begin == next);
      REQUIRE(end >= begin);
      next = end;
    }
    REQUIRE(next == total);
    if (total < (16ull << 20))
      REQUIRE(shares.size() == 1); // small ranges stay on the calling thread
  }
}

TEST_CASE("fresh_memory is zeroed, writable and page-rounded", "[gpu][fresh_memory]") {
  fresh_memory empty(0);
  REQUIRE(empty.data() != nullptr);
  REQUIRE(empty.size() == 4096);

  const std::uint64_t bytes = (40ull << 20) + 5; // several shares on a multi-core host
  fresh_memory memory(bytes);
  REQUIRE(memory.size() % 4096 == 0);
  REQUIRE(memory.size() >= bytes);
  std::uint64_t nonzero = 0;
  for (std::uint64_t at = 0; at < memory.size(); at += 4093)
    nonzero += memory.data()[at] != 0;
  REQUIRE(nonzero == 0);
  std::memset(memory.data(), 0x5A, bytes);
  REQUIRE(memory.data()[bytes - 1] == 0x5A);
}

TEST_CASE("fresh_memory refuses a size no host has", "[gpu][fresh_memory]") {
  REQUIRE_THROWS_AS(fresh_memory(1ull << 62), std::bad_alloc);
}

TEST_CASE("progress_meter reports monotonically, rarely, and always at the end", "[gpu][progress]") {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reports;
  std::mutex guard;
  progress_callback sink = [&](std::uint64_t done, std::uint64_t total, const std::string& stage) {
    const std::lock_guard lock(guard);
    REQUIRE(stage == "copying");
    reports.emplace_back(done, total);
  };
  progress_meter meter(sink, "copying", 4000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        meter.add(1);
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(!reports.empty());
  CHECK(reports.size() < 100); // at most one per 100 ms, plus the last
  CHECK(reports.back() == std::pair<std::uint64_t, std::uint64_t>{4000, 4000});
  for (std::size_t i = 1; i < reports.size(); ++i)
    CHECK(reports[i].first > reports[i - 1].first);

  progress_meter silent({}, "reading", 10); // no callback: nothing to call
  silent.add(10);
}
