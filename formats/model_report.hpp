#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/issue.hpp"
#include "formats/tensor_info.hpp"

namespace modeld::formats {

enum class model_format { safetensors, pytorch_zip, pickle, torchscript, gguf, onnx, unknown };

std::string_view to_string(model_format format);

// A group of tensors loaded together (unet, vae, text_encoder, text_encoder_2, ...).
struct component_summary {
  std::string name;
  std::uint64_t tensor_count = 0;
  std::uint64_t parameter_count = 0;
  std::uint64_t bytes = 0;
  std::vector<std::string> dtypes; // sorted, unique
};

struct file_facts {
  bool exists = false;
  bool readable = false;
  std::uint64_t size_bytes = 0;
  std::string extension; // lower-case, with the dot; empty if none
};

struct security_summary {
  bool scanned = false;                 // the file held pickles and they were scanned
  // module.name of every global a pickle imports that is not on the allow list (each one is a
  // PICKLE_UNSAFE_GLOBAL or PICKLE_UNLISTED_GLOBAL error), known gadget or not.
  std::vector<std::string> unsafe_globals;
  // Those of unsafe_globals that are merely unlisted (PICKLE_UNLISTED_GLOBAL), not known gadgets.
  std::vector<std::string> unknown_globals;
};

struct checksum_summary {
  std::string sha256;        // whole file
  std::string autov2;        // first 10 hex of sha256 (Civitai / A1111 short hash)
  std::string autov1;        // old A1111 hash: 8 hex of sha256 of 64 KiB at 1 MiB
  std::string tensor_sha256; // bytes after the safetensors header; empty for other formats
};

struct numerics_summary {
  std::uint64_t nan_count = 0;
  std::uint64_t inf_count = 0;
  std::uint64_t values_scanned = 0;
  std::uint64_t tensors_scanned = 0;
};

// Everything modeld learns about one model file.
struct model_report {
  std::string path;
  model_format format = model_format::unknown;
  file_facts file;
  std::vector<issue> issues;
  std::vector<tensor_info> tensors;
  metadata_map embedded;       // the file's own metadata (__metadata__, GGUF KVs, ONNX props)
  metadata_map structure;      // format-specific facts (header_length, gguf_version, ...)
  std::string architecture = "unknown";
  std::string type = "unknown";
  std::string precision = "unknown";
  std::uint64_t parameter_count = 0;
  std::uint64_t tensor_bytes = 0;
  std::vector<component_summary> components;
  security_summary security;
  std::optional<checksum_summary> checksums; // comprehensive level only
  std::optional<numerics_summary> numerics;  // comprehensive level only
  bool cancelled = false;

  // False exactly when an issue has severity error.
  bool is_valid() const noexcept { return !has_error(issues); }
};

} // namespace modeld::formats
