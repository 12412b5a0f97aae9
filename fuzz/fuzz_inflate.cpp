// libFuzzer target: the raw DEFLATE wrapper over zlib used for compressed zip pickles. Beyond
// not crashing, it checks the wrapper's promises on every input that inflates: the output stays
// within the cap, inflate_prefix gives the output's first bytes, and a cap of exactly the
// output's size is enough while one byte less fails as a size lie.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "formats/inflate.hpp"

namespace {

void require(bool promise) {
  if (!promise)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace modeld::formats;
  const std::span<const std::uint8_t> input(data, size);
  constexpr std::uint64_t cap = 1 << 20;
  std::string error;
  const auto out = inflate_raw(input, cap, error);
  if (!out) {
    require(!error.empty());
    return 0;
  }
  require(out->size() <= cap);
  const auto head = inflate_prefix(input, 64);
  require(head && std::equal(head->begin(), head->end(), out->begin(),
                             out->begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(64, out->size()))));
  require(inflate_raw(input, out->size(), error) == out);
  if (!out->empty()) {
    require(!inflate_raw(input, out->size() - 1, error));
    require(error == "output exceeds the declared size");
  }
  return 0;
}
