// libFuzzer target: the ONNX protobuf walk.
#include "formats/onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  modeld::formats::issue_sink issues;
  modeld::formats::parse_onnx({data, size}, issues);
  modeld::formats::looks_like_onnx({data, size});
  return 0;
}
