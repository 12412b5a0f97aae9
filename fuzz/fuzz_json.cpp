// libFuzzer target: the strict JSON parser behind the safetensors header.
#include <string_view>

#include "formats/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  modeld::formats::json_error error;
  modeld::formats::parse_json({reinterpret_cast<const char*>(data), size}, error);
  return 0;
}
