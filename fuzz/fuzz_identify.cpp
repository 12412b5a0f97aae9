// libFuzzer target: the whole inspection path (identification, every parser, architecture
// detection and the two-thread comprehensive scan), then the component identities of what it
// found, read back from the same bytes. The first byte picks the file extension so extension
// handling is exercised too.
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "formats/component_identity.hpp"
#include "formats/inspect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<std::string_view, 8> names{
    "m.safetensors", "m.ckpt", "m.pt", "m.gguf", "m.onnx", "m.pkl", "m.bin", "m"};
  if (size == 0)
    return 0;
  modeld::formats::inspect_options options;
  options.level = modeld::formats::validation_level::comprehensive;
  const auto* file = data + 1;
  const auto file_size = size - 1;
  auto report = modeld::formats::inspect_bytes({file, file_size}, names[data[0] % names.size()], options);
  auto read = [&](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) -> std::optional<std::string> {
    if (offset > file_size || bytes > file_size - offset)
      return std::string{"past the end"};
    std::memcpy(to, file + offset, bytes);
    return std::nullopt;
  };
  modeld::formats::identify_components(report, read);
  return 0;
}
