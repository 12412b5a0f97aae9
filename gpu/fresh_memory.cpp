#include "gpu/fresh_memory.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <thread>
#include <vector>
#include <sys/mman.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 // Linux 5.14; older kernels answer EINVAL and pages are touched instead
#endif

namespace modeld::gpu {

namespace {

constexpr std::uint64_t page_size = 4096;

// Populated this much per madvise call: each call holds the process's mmap lock (for reading)
// throughout, and a thread that maps or unmaps meanwhile (an allocator growing, on the TCP
// front end's thread too) waits for it, and makes every page fault wait behind it: the likely
// cause of one 363 ms status p99 seen under ASan while a 400 MiB load populated in one call.
constexpr std::uint64_t populate_chunk = 8 << 20;

// Faults in [begin, end) of a writable mapping; false when the kernel has no memory for it.
bool populate(std::uint8_t* begin, std::uint64_t bytes) {
  if (bytes == 0)
    return true;
  std::uint64_t done = 0;
  for (; done < bytes; done += populate_chunk)
    if (::madvise(begin + done, std::min(populate_chunk, bytes - done), MADV_POPULATE_WRITE) != 0)
      break;
  if (done >= bytes)
    return true;
  if (errno != EINVAL)
    return false;
  for (std::uint64_t at = 0; at < bytes; at += page_size)
    begin[at] = 0; // fresh anonymous pages read as zero already: this only faults them in
  return true;
}

} // namespace

fresh_memory::fresh_memory(std::uint64_t bytes)
  : size_((std::max<std::uint64_t>(bytes, 1) + page_size - 1) / page_size * page_size) {
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw std::bad_alloc();
  base_ = static_cast<std::uint8_t*>(p);
  ::madvise(base_, size_, MADV_HUGEPAGE);
  std::atomic<bool> out_of_memory{false};
  run_in_shares(size_, [&](std::uint64_t begin, std::uint64_t end) {
    // Shares cut on page boundaries, so that no page is populated twice.
    const auto from = begin / page_size * page_size, to = end == size_ ? size_ : end / page_size * page_size;
    if (!populate(base_ + from, to - from))
      out_of_memory = true;
  });
  if (out_of_memory) {
    ::munmap(base_, size_);
    throw std::bad_alloc();
  }
}

fresh_memory::~fresh_memory() { ::munmap(base_, size_); }

void stream_copy(std::uint8_t* to, const std::uint8_t* from, std::uint64_t bytes) {
#if defined(__SSE2__)
  constexpr std::uint64_t line = 64;
  const auto head = std::min<std::uint64_t>(bytes, (16 - (reinterpret_cast<std::uintptr_t>(to) & 15)) & 15);
  std::memcpy(to, from, head);
  to += head, from += head, bytes -= head;
  const auto body = bytes & ~(line - 1);
  for (std::uint64_t at = 0; at < body; at += line) {
    const auto* source = reinterpret_cast<const __m128i*>(from + at);
    auto* target = reinterpret_cast<__m128i*>(to + at);
    const auto a = _mm_loadu_si128(source), b = _mm_loadu_si128(source + 1), c = _mm_loadu_si128(source + 2),
               d = _mm_loadu_si128(source + 3);
    _mm_stream_si128(target, a);
    _mm_stream_si128(target + 1, b);
    _mm_stream_si128(target + 2, c);
    _mm_stream_si128(target + 3, d);
  }
  _mm_sfence(); // streamed stores are weakly ordered: make them visible before anyone reads
  std::memcpy(to + body, from + body, bytes - body);
#else
  std::memcpy(to, from, bytes);
#endif
}

void run_in_shares(std::uint64_t total, const std::function<void(std::uint64_t, std::uint64_t)>& work) {
  const auto threads = std::max<std::uint64_t>(
    1, std::min<std::uint64_t>(std::thread::hardware_concurrency(), total / (16 << 20) + 1));
  const auto share = (total + threads - 1) / threads;
  std::vector<std::thread> helpers;
  for (std::uint64_t t = 1; t < threads; ++t)
    helpers.emplace_back(work, t * share, std::min(total, (t + 1) * share));
  work(0, std::min(total, share));
  for (auto& h : helpers)
    h.join();
}

} // namespace modeld::gpu
