#include "formats/inflate.hpp"

#include <algorithm>
#include <limits>

#define ZLIB_CONST // next_in points at const bytes (the mapped file)
#include <zlib.h>

namespace modeld::formats {

namespace {

// The output buffer starts at this size (or the input's, if larger) and doubles from there,
// always clamped to the cap: a header that declares 256 MiB over a stream that yields a few
// bytes costs 64 KiB, not 256 MiB.
constexpr std::size_t first_output_size = 64 << 10;
// zlib counts bytes in uInt (32 bits): longer inputs and outputs go to it in slices.
constexpr std::size_t max_slice = std::size_t{1} << 30;

enum class ending { complete, over_limit, truncated, malformed };

struct inflate_result {
  ending how = ending::malformed;
  std::vector<std::uint8_t> bytes; // what came out, up to the cap
  std::string message;
};

// One raw-deflate z_stream (negative window bits: no zlib header or trailer, as zip stores
// entries), ended on every path out.
class raw_stream {
public:
  raw_stream() noexcept { ready_ = inflateInit2(&stream_, -MAX_WBITS) == Z_OK; }
  ~raw_stream() {
    if (ready_)
      inflateEnd(&stream_);
  }
  raw_stream(const raw_stream&) = delete;
  raw_stream& operator=(const raw_stream&) = delete;

  bool ready() const noexcept { return ready_; }
  z_stream& get() noexcept { return stream_; }

private:
  z_stream stream_{};
  bool ready_ = false;
};

void grow(std::vector<std::uint8_t>& out, std::size_t input_size, std::size_t cap) {
  const auto wanted = std::max({first_output_size, input_size, out.size() * 2});
  const auto next = std::min(wanted, cap);
  out.reserve(next); // exactly `next`: resize alone may round the capacity up past the cap
  out.resize(next);
}

// Inflates until the stream ends, fails, or would write byte `cap` + 1. Once `cap` bytes are
// out, one more byte is asked for into a scratch byte: only that tells a stream that ends right
// there from one that goes on.
inflate_result inflate_capped(std::span<const std::uint8_t> input, std::uint64_t limit) {
  inflate_result result;
  raw_stream zs;
  if (!zs.ready()) {
    result.message = "zlib could not set up a stream";
    return result;
  }
  z_stream& s = zs.get();
  auto& out = result.bytes;
  const auto cap = static_cast<std::size_t>(
    std::min<std::uint64_t>(limit, std::numeric_limits<std::size_t>::max()));
  std::size_t fed = 0;
  std::size_t produced = 0;
  std::uint8_t scratch = 0;
  for (;;) {
    if (s.avail_in == 0 && fed < input.size()) {
      const auto slice = std::min(input.size() - fed, max_slice);
      s.next_in = input.data() + fed;
      s.avail_in = static_cast<uInt>(slice);
      fed += slice;
    }
    const bool at_cap = produced == cap;
    if (!at_cap && produced == out.size())
      grow(out, input.size(), cap);
    const auto room = at_cap ? std::size_t{1} : std::min(out.size() - produced, max_slice);
    s.next_out = at_cap ? &scratch : out.data() + produced;
    s.avail_out = static_cast<uInt>(room);
    const int rc = ::inflate(&s, Z_NO_FLUSH);
    const auto wrote = room - s.avail_out;
    if (at_cap && wrote > 0) {
      result.how = ending::over_limit;
      result.message = "output exceeds the declared size";
      break;
    }
    produced += wrote;
    if (rc == Z_STREAM_END) {
      result.how = ending::complete;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      // Z_DATA_ERROR (zlib's message names the fault), Z_MEM_ERROR, Z_NEED_DICT.
      result.how = ending::malformed;
      result.message = rc == Z_MEM_ERROR ? "zlib could not allocate its window"
                       : s.msg != nullptr ? s.msg
                                          : "malformed deflate data";
      break;
    }
    // zlib returns with room left only when it has used up its input.
    if (s.avail_out > 0 && s.avail_in == 0 && fed == input.size()) {
      result.how = ending::truncated;
      result.message = "input ends inside the stream";
      break;
    }
  }
  out.resize(produced);
  return result;
}

} // namespace

std::optional<std::vector<std::uint8_t>> inflate_raw(std::span<const std::uint8_t> input,
                                                     std::uint64_t max_output, std::string& error) {
  auto result = inflate_capped(input, max_output);
  if (result.how != ending::complete) {
    error = std::move(result.message);
    return std::nullopt;
  }
  return std::move(result.bytes);
}

std::optional<std::vector<std::uint8_t>> inflate_prefix(std::span<const std::uint8_t> input,
                                                        std::uint64_t count) {
  auto result = inflate_capped(input, count);
  if (result.how != ending::complete && result.how != ending::over_limit)
    return std::nullopt;
  return std::move(result.bytes);
}

} // namespace modeld::formats
