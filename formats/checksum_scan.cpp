#include "formats/checksum_scan.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <openssl/evp.h>
#include <thread>

#include "formats/crc32.hpp"

namespace modeld::formats {

namespace {

constexpr std::uint64_t chunk_size = 4ULL << 20;
// How far one thread may run ahead of the other; bounds the mapped-but-unreleased window.
constexpr std::uint64_t max_skew = 32ULL << 20;
// Hashing straight from mapped pages runs ~30% slower than from cache here: the hardware
// prefetcher stops at every 4 KiB page. Copying each block into a small buffer first (memcpy
// streams at ~10 GB/s) lets SHA-256 run at the speed `openssl dgst` gets from read().
constexpr std::uint64_t block_size = 64ULL << 10;
constexpr std::uint64_t autov1_offset = 0x100000;
constexpr std::uint64_t autov1_length = 0x10000;

struct evp_deleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using digest = std::unique_ptr<EVP_MD_CTX, evp_deleter>;

digest new_sha256() {
  digest ctx(EVP_MD_CTX_new());
  if (ctx)
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  return ctx;
}

std::string hex_digest(EVP_MD_CTX* ctx) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, out, &length);
  static constexpr char hex[] = "0123456789abcdef";
  std::string text;
  for (unsigned i = 0; i < length; ++i) {
    text.push_back(hex[out[i] >> 4]);
    text.push_back(hex[out[i] & 15]);
  }
  return text;
}

std::string sha256_of(std::span<const std::uint8_t> bytes) {
  auto ctx = new_sha256();
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return hex_digest(ctx.get());
}

std::uint64_t element_size(float_kind kind) {
  switch (kind) {
    case float_kind::f32: return 4;
    case float_kind::f16:
    case float_kind::bf16: return 2;
    case float_kind::f64: return 8;
    case float_kind::none: break;
  }
  return 1;
}

// NaN: magnitude above the all-ones exponent; Inf: magnitude equal to it. Counters have the
// element's width and are flushed per block, so the loop vectorises without widening.
template <class T>
void count_bits(const std::uint8_t* data, std::uint64_t count, T exponent, std::uint64_t& nan,
                std::uint64_t& inf) noexcept {
  constexpr T magnitude = static_cast<T>(static_cast<T>(~T(0)) >> 1); // all but the sign bit
  constexpr std::uint64_t block = std::min<std::uint64_t>(std::uint64_t(1) << (sizeof(T) * 8 - 1), 1 << 15);
  for (std::uint64_t start = 0; start < count; start += block) {
    const auto n = std::min(block, count - start);
    T nans = 0;
    T infs = 0;
    for (std::uint64_t k = 0; k < n; ++k) {
      T v;
      std::memcpy(&v, data + (start + k) * sizeof(T), sizeof(T));
      const T a = v & magnitude;
      nans += a > exponent;
      infs += a == exponent;
    }
    nan += nans;
    inf += infs;
  }
}

struct region_state {
  const data_region* region;
  std::uint32_t crc = 0;
  region_finding finding;
};

// Work of the second thread over one chunk [begin, end).
class numerics_pass {
public:
  numerics_pass(std::span<const std::uint8_t> bytes, const scan_request& request)
    : bytes_(bytes), request_(request) {
    for (const auto& r : request.regions)
      if (r.begin < r.end && r.end <= bytes.size() &&
          (r.kind != float_kind::none || r.expected_crc))
        regions_.push_back({&r, 0, {r.name, 0, 0, false}});
    std::sort(regions_.begin(), regions_.end(),
              [](auto& a, auto& b) { return a.region->begin < b.region->begin; });
    if (request.tensor_data_start && *request.tensor_data_start <= bytes.size())
      tensor_hash_ = new_sha256();
  }

  bool has_work() const noexcept { return !regions_.empty() || tensor_hash_ != nullptr; }

  void chunk(std::uint64_t begin, std::uint64_t end) {
    for (auto at = begin; at < end; at += block_size)
      block(at, std::min(end, at + block_size));
  }

  void finish(scan_result& result) {
    if (tensor_hash_)
      result.tensor_sha256 = hex_digest(tensor_hash_.get());
    for (auto& state : regions_) {
      const auto& r = *state.region;
      if (r.expected_crc && state.crc != *r.expected_crc)
        state.finding.crc_mismatch = true;
      result.nan_count += state.finding.nan_count;
      result.inf_count += state.finding.inf_count;
      if (r.kind != float_kind::none) {
        ++result.regions_scanned;
        result.values_scanned += (r.end - r.begin) / element_size(r.kind);
      }
      if (state.finding.nan_count || state.finding.inf_count || state.finding.crc_mismatch)
        result.findings.push_back(state.finding);
    }
  }

private:
  void block(std::uint64_t begin, std::uint64_t end) {
    if (tensor_hash_) {
      const auto from = std::max(begin, *request_.tensor_data_start);
      if (from < end) {
        std::memcpy(buffer_.data(), bytes_.data() + from, end - from);
        EVP_DigestUpdate(tensor_hash_.get(), buffer_.data(), end - from);
      }
    }
    // The region scans below read the same lines, now in cache.
    while (next_ < regions_.size() && regions_[next_].region->end <= begin)
      ++next_;
    for (auto i = next_; i < regions_.size() && regions_[i].region->begin < end; ++i)
      region_chunk(regions_[i], begin, end);
  }

  void region_chunk(region_state& state, std::uint64_t begin, std::uint64_t end) {
    const auto& r = *state.region;
    const auto from = std::max(begin, r.begin);
    const auto to = std::min(end, r.end);
    if (from >= to)
      return;
    if (r.expected_crc)
      state.crc = crc32(bytes_.subspan(from, to - from), state.crc);
    if (r.kind == float_kind::none)
      return;
    // Elements belong to the chunk where they start; the last may reach a few bytes past it.
    const auto size = element_size(r.kind);
    const auto total = (r.end - r.begin) / size;
    const auto first = (from - r.begin + size - 1) / size;
    const auto last = std::min(total, (to - r.begin + size - 1) / size);
    if (first >= last)
      return;
    const auto* data = bytes_.data() + r.begin + first * size;
    count_non_finite(data, last - first, r.kind, state.finding.nan_count, state.finding.inf_count);
  }

  std::span<const std::uint8_t> bytes_;
  const scan_request& request_;
  std::vector<region_state> regions_;
  std::size_t next_ = 0;
  digest tensor_hash_;
  std::vector<std::uint8_t> buffer_ = std::vector<std::uint8_t>(block_size);
};

scan_result run_scan(std::span<const std::uint8_t> bytes, const mapped_file* mapping,
                     const scan_request& request, const progress_callback& progress,
                     const std::atomic<bool>& cancel) {
  scan_result result;
  const std::uint64_t size = bytes.size();
  if (mapping != nullptr)
    mapping->advise_sequential();

  numerics_pass numerics(bytes, request);
  std::atomic<std::uint64_t> hash_done{0};
  std::atomic<std::uint64_t> numerics_done{numerics.has_work() ? 0 : size};

  // Waits while this thread is more than max_skew ahead of the other.
  auto keep_pace = [&](std::uint64_t mine, std::atomic<std::uint64_t>& other) {
    for (auto seen = other.load(); mine > seen + max_skew && !cancel.load(); seen = other.load())
      other.wait(seen);
  };

  std::thread worker;
  if (numerics.has_work())
    worker = std::thread([&] {
      for (std::uint64_t at = 0; at < size && !cancel.load(); at += chunk_size) {
        keep_pace(at, hash_done);
        numerics.chunk(at, std::min(size, at + chunk_size));
        numerics_done.store(std::min(size, at + chunk_size));
        numerics_done.notify_all();
      }
      numerics_done.store(size); // never leave the hashing thread waiting
      numerics_done.notify_all();
    });

  auto ctx = request.hash ? new_sha256() : digest();
  std::vector<std::uint8_t> buffer(block_size);
  std::uint64_t released = 0;
  for (std::uint64_t at = 0; at < size && !cancel.load(); at += chunk_size) {
    const auto end = std::min(size, at + chunk_size);
    keep_pace(at, numerics_done);
    if (ctx)
      for (auto block = at; block < end; block += block_size) {
        const auto length = std::min(end, block + block_size) - block;
        std::memcpy(buffer.data(), bytes.data() + block, length);
        EVP_DigestUpdate(ctx.get(), buffer.data(), length);
      }
    hash_done.store(end);
    hash_done.notify_all();
    const auto both = std::min(end, numerics_done.load());
    if (mapping != nullptr && both > released + 2 * chunk_size) {
      mapping->release(released, both - chunk_size);
      released = both - chunk_size;
    }
    if (progress)
      progress(both, size, "hashing");
  }
  hash_done.store(size);
  hash_done.notify_all();
  if (worker.joinable())
    worker.join();
  if (mapping != nullptr)
    mapping->release(0, size);

  if (cancel.load()) {
    result.cancelled = true;
    return result;
  }
  if (ctx) {
    result.sha256 = hex_digest(ctx.get());
    result.autov2 = result.sha256.substr(0, 10);
    const auto from = std::min(size, autov1_offset);
    const auto to = std::min(size, autov1_offset + autov1_length);
    result.autov1 = sha256_of(bytes.subspan(from, to - from)).substr(0, 8);
  }
  numerics.finish(result);
  if (progress)
    progress(size, size, "done");
  return result;
}

} // namespace

void count_non_finite(const std::uint8_t* data, std::uint64_t count, float_kind kind,
                      std::uint64_t& nan, std::uint64_t& inf) noexcept {
  switch (kind) {
    case float_kind::f32:
      count_bits<std::uint32_t>(data, count, 0x7F800000u, nan, inf);
      break;
    case float_kind::f16:
      count_bits<std::uint16_t>(data, count, 0x7C00u, nan, inf);
      break;
    case float_kind::bf16:
      count_bits<std::uint16_t>(data, count, 0x7F80u, nan, inf);
      break;
    case float_kind::f64:
      count_bits<std::uint64_t>(data, count, 0x7FF0000000000000ull, nan, inf);
      break;
    case float_kind::none: break;
  }
}

scan_result scan_mapped(const mapped_file& file, const scan_request& request,
                        const progress_callback& progress, const std::atomic<bool>& cancel) {
  return run_scan(file.bytes(), &file, request, progress, cancel);
}

scan_result scan_bytes(std::span<const std::uint8_t> bytes, const scan_request& request,
                       const progress_callback& progress, const std::atomic<bool>& cancel) {
  return run_scan(bytes, nullptr, request, progress, cancel);
}

} // namespace modeld::formats
