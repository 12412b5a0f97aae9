// libFuzzer target: the raw DEFLATE decoder used for compressed zip pickles.
#include <string>

#include "formats/inflate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string error;
  modeld::formats::inflate_raw({data, size}, 1 << 20, error);
  return 0;
}
