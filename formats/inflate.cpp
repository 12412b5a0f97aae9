#include "formats/inflate.hpp"

#include <array>

namespace modeld::formats {

namespace {

constexpr int max_bits = 15;
constexpr int max_lit_codes = 286;
constexpr int max_dist_codes = 30;
constexpr int fixed_lit_codes = 288;

// Canonical Huffman code as counts per length and symbols in code order (the scheme of zlib's
// puff.c reference decoder: small, obviously bounded, fast enough for pickles).
struct huffman {
  std::array<std::uint16_t, max_bits + 1> count{};
  std::array<std::uint16_t, fixed_lit_codes> symbol{};
};

class decoder {
public:
  decoder(std::span<const std::uint8_t> in, std::uint64_t max_output)
    : in_(in), max_output_(max_output) {
  }

  bool reached_limit() const noexcept { return reached_limit_; }

  bool run(std::string& error) {
    int last = 0;
    do {
      int type = 0;
      if (!bits(1, last) || !bits(2, type))
        return fail(error, "truncated block header");
      bool ok = false;
      switch (type) {
        case 0: ok = stored(); break;
        case 1: ok = fixed(); break;
        case 2: ok = dynamic(); break;
        default: error_ = "invalid block type"; break;
      }
      if (!ok)
        return fail(error, error_.empty() ? "malformed deflate data" : error_);
    } while (!last);
    return true;
  }

  std::vector<std::uint8_t> take() { return std::move(out_); }

private:
  bool fail(std::string& error, std::string message) {
    error = std::move(message);
    return false;
  }

  bool bits(int need, int& value) {
    std::uint32_t v = bit_buffer_;
    while (bit_count_ < need) {
      if (pos_ == in_.size()) {
        error_ = "input ends inside the stream";
        return false;
      }
      v |= static_cast<std::uint32_t>(in_[pos_++]) << bit_count_;
      bit_count_ += 8;
    }
    bit_buffer_ = v >> need;
    bit_count_ -= need;
    value = static_cast<int>(v & ((1u << need) - 1));
    return true;
  }

  bool put(std::uint8_t byte) {
    if (out_.size() >= max_output_) {
      error_ = "output exceeds the declared size";
      reached_limit_ = true;
      return false;
    }
    out_.push_back(byte);
    return true;
  }

  bool stored() {
    bit_buffer_ = 0;
    bit_count_ = 0;
    if (in_.size() - pos_ < 4) {
      error_ = "truncated stored block";
      return false;
    }
    const unsigned length = in_[pos_] | (in_[pos_ + 1] << 8);
    const unsigned complement = in_[pos_ + 2] | (in_[pos_ + 3] << 8);
    pos_ += 4;
    if (length != (~complement & 0xFFFF)) {
      error_ = "stored block length check failed";
      return false;
    }
    if (in_.size() - pos_ < length) {
      error_ = "truncated stored block";
      return false;
    }
    for (unsigned i = 0; i < length; ++i)
      if (!put(in_[pos_ + i]))
        return false;
    pos_ += length;
    return true;
  }

  bool decode(const huffman& h, int& symbol) {
    int code = 0;
    int first = 0;
    int index = 0;
    for (int len = 1; len <= max_bits; ++len) {
      int bit = 0;
      if (!bits(1, bit))
        return false;
      code |= bit;
      const int count = h.count[static_cast<std::size_t>(len)];
      if (code - count < first) {
        symbol = h.symbol[static_cast<std::size_t>(index + (code - first))];
        return true;
      }
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    error_ = "invalid Huffman code";
    return false;
  }

  // Returns false for over-subscribed codes; incomplete codes are allowed only where the format
  // allows them (a single distance code), which the decoder catches when such a code is used.
  static bool build(huffman& h, const std::uint16_t* lengths, int n) {
    h.count.fill(0);
    for (int s = 0; s < n; ++s)
      ++h.count[lengths[s]];
    if (h.count[0] == n)
      return true;
    int left = 1;
    for (int len = 1; len <= max_bits; ++len) {
      left <<= 1;
      left -= h.count[static_cast<std::size_t>(len)];
      if (left < 0)
        return false;
    }
    std::array<std::uint16_t, max_bits + 1> offsets{};
    for (int len = 1; len < max_bits; ++len)
      offsets[static_cast<std::size_t>(len + 1)] =
        offsets[static_cast<std::size_t>(len)] + h.count[static_cast<std::size_t>(len)];
    for (int s = 0; s < n; ++s)
      if (lengths[s] != 0)
        h.symbol[offsets[lengths[s]]++] = static_cast<std::uint16_t>(s);
    return true;
  }

  bool codes(const huffman& lit, const huffman& dist) {
    static constexpr std::array<std::uint16_t, 29> length_base{
      3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
      131, 163, 195, 227, 258};
    static constexpr std::array<std::uint8_t, 29> length_extra{
      0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static constexpr std::array<std::uint16_t, 30> dist_base{
      1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
      1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static constexpr std::array<std::uint8_t, 30> dist_extra{
      0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
      13, 13};
    for (;;) {
      int symbol = 0;
      if (!decode(lit, symbol))
        return false;
      if (symbol < 256) {
        if (!put(static_cast<std::uint8_t>(symbol)))
          return false;
        continue;
      }
      if (symbol == 256)
        return true;
      symbol -= 257;
      if (symbol >= 29) {
        error_ = "invalid length symbol";
        return false;
      }
      int extra = 0;
      if (!bits(length_extra[static_cast<std::size_t>(symbol)], extra))
        return false;
      const int length = length_base[static_cast<std::size_t>(symbol)] + extra;
      int dsym = 0;
      if (!decode(dist, dsym))
        return false;
      if (dsym >= 30) {
        error_ = "invalid distance symbol";
        return false;
      }
      if (!bits(dist_extra[static_cast<std::size_t>(dsym)], extra))
        return false;
      const std::size_t distance =
        static_cast<std::size_t>(dist_base[static_cast<std::size_t>(dsym)] + extra);
      if (distance > out_.size()) {
        error_ = "distance reaches before the start of the output";
        return false;
      }
      for (int i = 0; i < length; ++i)
        if (!put(out_[out_.size() - distance]))
          return false;
    }
  }

  bool fixed() {
    if (!fixed_built_) {
      std::array<std::uint16_t, fixed_lit_codes> lengths{};
      int s = 0;
      for (; s < 144; ++s) lengths[static_cast<std::size_t>(s)] = 8;
      for (; s < 256; ++s) lengths[static_cast<std::size_t>(s)] = 9;
      for (; s < 280; ++s) lengths[static_cast<std::size_t>(s)] = 7;
      for (; s < fixed_lit_codes; ++s) lengths[static_cast<std::size_t>(s)] = 8;
      build(fixed_lit_, lengths.data(), fixed_lit_codes);
      lengths.fill(5);
      build(fixed_dist_, lengths.data(), max_dist_codes);
      fixed_built_ = true;
    }
    return codes(fixed_lit_, fixed_dist_);
  }

  bool dynamic() {
    static constexpr std::array<std::uint8_t, 19> order{16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                                        11, 4, 12, 3, 13, 2, 14, 1, 15};
    int nlen = 0;
    int ndist = 0;
    int ncode = 0;
    if (!bits(5, nlen) || !bits(5, ndist) || !bits(4, ncode))
      return false;
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > max_lit_codes || ndist > max_dist_codes) {
      error_ = "too many length or distance codes";
      return false;
    }
    std::array<std::uint16_t, max_lit_codes + max_dist_codes> lengths{};
    for (int i = 0; i < ncode; ++i) {
      int v = 0;
      if (!bits(3, v))
        return false;
      lengths[order[static_cast<std::size_t>(i)]] = static_cast<std::uint16_t>(v);
    }
    huffman lencode;
    if (!build(lencode, lengths.data(), 19)) {
      error_ = "bad code-length code";
      return false;
    }
    int index = 0;
    while (index < nlen + ndist) {
      int symbol = 0;
      if (!decode(lencode, symbol))
        return false;
      if (symbol < 16) {
        lengths[static_cast<std::size_t>(index++)] = static_cast<std::uint16_t>(symbol);
        continue;
      }
      std::uint16_t repeat_value = 0;
      int repeat = 0;
      if (symbol == 16) {
        if (index == 0) {
          error_ = "repeat with no previous length";
          return false;
        }
        repeat_value = lengths[static_cast<std::size_t>(index - 1)];
        if (!bits(2, repeat))
          return false;
        repeat += 3;
      } else if (symbol == 17) {
        if (!bits(3, repeat))
          return false;
        repeat += 3;
      } else {
        if (!bits(7, repeat))
          return false;
        repeat += 11;
      }
      if (index + repeat > nlen + ndist) {
        error_ = "too many code lengths";
        return false;
      }
      while (repeat--)
        lengths[static_cast<std::size_t>(index++)] = repeat_value;
    }
    if (lengths[256] == 0) {
      error_ = "no end-of-block code";
      return false;
    }
    huffman lit;
    huffman dist;
    if (!build(lit, lengths.data(), nlen) || !build(dist, lengths.data() + nlen, ndist)) {
      error_ = "over-subscribed Huffman code";
      return false;
    }
    return codes(lit, dist);
  }

  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
  std::uint32_t bit_buffer_ = 0;
  int bit_count_ = 0;
  std::uint64_t max_output_;
  std::vector<std::uint8_t> out_;
  std::string error_;
  huffman fixed_lit_;
  huffman fixed_dist_;
  bool fixed_built_ = false;
  bool reached_limit_ = false;
};

} // namespace

std::optional<std::vector<std::uint8_t>> inflate_raw(std::span<const std::uint8_t> input,
                                                     std::uint64_t max_output, std::string& error) {
  decoder d(input, max_output);
  if (!d.run(error))
    return std::nullopt;
  return d.take();
}

std::optional<std::vector<std::uint8_t>> inflate_prefix(std::span<const std::uint8_t> input,
                                                        std::uint64_t count) {
  decoder d(input, count);
  std::string error;
  if (!d.run(error) && !d.reached_limit())
    return std::nullopt;
  return d.take();
}

} // namespace modeld::formats
