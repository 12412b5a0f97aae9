#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "formats/issue.hpp"
#include "formats/tensor_info.hpp"

namespace modeld::formats {

struct onnx_info {
  bool parsed = false;
  std::int64_t ir_version = 0;
  std::vector<std::pair<std::string, std::int64_t>> opset_import; // domain ("" = ai.onnx), version
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  std::int64_t model_version = 0;
  std::string graph_name;
  std::uint64_t node_count = 0;            // nodes of the main graph
  std::map<std::string, std::uint64_t> op_types;
  std::uint64_t input_count = 0;
  std::uint64_t output_count = 0;
  std::vector<tensor_info> initializers;   // data_in_file only for raw_data held in the file
  metadata_map metadata;                   // metadata_props
};

// Walks an ONNX ModelProto at the wire level (no protobuf library). Codes: ONNX_*.
onnx_info parse_onnx(std::span<const std::uint8_t> file, issue_sink& issues);

// A cheap test: the file starts with ModelProto field 1 (ir_version) as a small varint and the
// top level walks as well-formed protobuf.
bool looks_like_onnx(std::span<const std::uint8_t> file) noexcept;

} // namespace modeld::formats
