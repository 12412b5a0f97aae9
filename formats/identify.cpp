#include "formats/identify.hpp"

#include "formats/byte_reader.hpp"
#include "formats/gguf.hpp"
#include "formats/onnx.hpp"
#include "formats/pickle_scanner.hpp"
#include "formats/safetensors.hpp"
#include "formats/zip_reader.hpp"

namespace modeld::formats {

std::string_view to_string(model_format format) {
  switch (format) {
    case model_format::safetensors: return "safetensors";
    case model_format::pytorch_zip: return "pytorch_zip";
    case model_format::pickle: return "pickle";
    case model_format::torchscript: return "torchscript";
    case model_format::gguf: return "gguf";
    case model_format::onnx: return "onnx";
    case model_format::unknown: break;
  }
  return "unknown";
}

namespace {

// A zip whose first entry does not start the file (prepended data) is still found through its
// end record, which must sit in the last 64 KiB.
bool has_zip_end_record(std::span<const std::uint8_t> bytes) noexcept {
  if (bytes.size() < 22)
    return false;
  const std::uint64_t last = bytes.size() - 22;
  const std::uint64_t first = last > 0xFFFF ? last - 0xFFFF : 0;
  for (std::uint64_t at = last + 1; at-- > first;)
    if (load_le<std::uint32_t>(bytes, at) == 0x06054b50u)
      return true;
  return false;
}

} // namespace

model_format detect_format(std::span<const std::uint8_t> bytes) noexcept {
  if (looks_like_safetensors(bytes))
    return model_format::safetensors;
  if (looks_like_gguf(bytes))
    return model_format::gguf;
  if (looks_like_zip(bytes))
    return model_format::pytorch_zip;
  if (looks_like_pickle(bytes))
    return model_format::pickle;
  if (looks_like_onnx(bytes))
    return model_format::onnx;
  if (has_zip_end_record(bytes))
    return model_format::pytorch_zip;
  return model_format::unknown;
}

std::vector<model_format> formats_for_extension(std::string_view extension) {
  using f = model_format;
  if (extension == ".safetensors" || extension == ".sft")
    return {f::safetensors};
  if (extension == ".gguf")
    return {f::gguf};
  if (extension == ".onnx")
    return {f::onnx};
  if (extension == ".ckpt" || extension == ".pt" || extension == ".pth" || extension == ".bin" ||
      extension == ".pt2")
    return {f::pytorch_zip, f::pickle, f::torchscript};
  if (extension == ".pkl" || extension == ".pickle")
    return {f::pickle};
  return {};
}

} // namespace modeld::formats
