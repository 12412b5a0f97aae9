// libFuzzer target: the pickle opcode scanner, plain and as torch's legacy format.
#include "formats/pickle_scanner.hpp"
#include "formats/torch_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  modeld::formats::issue_sink issues;
  modeld::formats::pickle_scan_options options;
  options.max_ops = 200'000; // keep single runs fast; the limits themselves are unit-tested
  options.max_values = 100'000;
  modeld::formats::scan_pickle({data, size}, issues, options);
  modeld::formats::issue_sink legacy;
  modeld::formats::inspect_pickle_file({data, size}, legacy);
  return 0;
}
