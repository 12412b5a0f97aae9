// libFuzzer target: the strict zip reader and torch archive checks.
#include "formats/torch_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  modeld::formats::issue_sink issues;
  modeld::formats::inspect_torch_zip({data, size}, issues);
  return 0;
}
