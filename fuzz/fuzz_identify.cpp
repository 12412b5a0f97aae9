// libFuzzer target: the whole inspection path (identification, every parser, architecture
// detection and the two-thread comprehensive scan). The first byte picks the file extension so
// extension handling is exercised too.
#include <array>
#include <string_view>

#include "formats/inspect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<std::string_view, 8> names{
    "m.safetensors", "m.ckpt", "m.pt", "m.gguf", "m.onnx", "m.pkl", "m.bin", "m"};
  if (size == 0)
    return 0;
  modeld::formats::inspect_options options;
  options.level = modeld::formats::validation_level::comprehensive;
  modeld::formats::inspect_bytes({data + 1, size - 1}, names[data[0] % names.size()], options);
  return 0;
}
