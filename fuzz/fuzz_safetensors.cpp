// libFuzzer target: safetensors header validation.
#include "formats/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  modeld::formats::issue_sink issues;
  modeld::formats::parse_safetensors({data, size}, issues);
  return 0;
}
