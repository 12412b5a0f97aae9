// libFuzzer target: GGUF parsing.
#include "formats/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  modeld::formats::issue_sink issues;
  modeld::formats::parse_gguf({data, size}, issues);
  return 0;
}
