#include <catch2/catch.hpp>

#include "formats/onnx.hpp"
#include "protobuf_writer.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

pb initializer(std::string_view name, std::vector<std::uint64_t> dims, std::uint64_t type,
               std::size_t raw_bytes) {
  pb t;
  for (auto d : dims)
    t.varint_field(1, d);
  t.varint_field(2, type).string_field(8, name).bytes_field(9, bytes(raw_bytes, 0));
  return t;
}

pb model(const pb& graph) {
  pb m;
  m.varint_field(1, 8).string_field(2, "pytorch").string_field(3, "1.13");
  m.message(8, pb().string_field(1, "").varint_field(2, 17));
  m.message(14, pb().string_field(1, "author").string_field(2, "me"));
  m.message(7, graph);
  return m;
}

pb simple_graph() {
  pb g;
  g.message(1, pb().string_field(1, "x").string_field(1, "w").string_field(2, "y").string_field(4, "MatMul"));
  g.message(1, pb().string_field(1, "y").string_field(2, "z").string_field(4, "Relu"));
  g.string_field(2, "main");
  g.message(5, initializer("w", {4, 2}, 1, 32));
  g.message(11, pb().string_field(1, "x"));
  g.message(12, pb().string_field(1, "z"));
  return g;
}

std::string first_error(const bytes& file) {
  issue_sink issues;
  parse_onnx(view(file), issues);
  for (const auto& i : issues.items())
    if (i.level == severity::error)
      return i.code;
  return {};
}

} // namespace

TEST_CASE("onnx: a valid model", "[onnx]") {
  const auto file = model(simple_graph()).build();
  CHECK(looks_like_onnx(view(file)));
  issue_sink issues;
  const auto info = parse_onnx(view(file), issues);
  CHECK(issues.items().empty());
  CHECK(info.parsed);
  CHECK(info.ir_version == 8);
  CHECK(info.producer_name == "pytorch");
  REQUIRE(info.opset_import.size() == 1);
  CHECK(info.opset_import[0].second == 17);
  CHECK(info.graph_name == "main");
  CHECK(info.node_count == 2);
  CHECK(info.op_types.at("MatMul") == 1);
  CHECK(info.input_count == 1);
  CHECK(info.output_count == 1);
  REQUIRE(info.initializers.size() == 1);
  CHECK(info.initializers[0].dtype == "F32");
  CHECK(info.initializers[0].byte_size == 32);
  CHECK(info.initializers[0].data_in_file);
  CHECK(info.initializers[0].data_end - info.initializers[0].data_begin == 32);
  CHECK(info.metadata[0].first == "author");
}

TEST_CASE("onnx: malformed wire data", "[onnx]") {
  CHECK(first_error(bytes{0x08}) == "ONNX_MALFORMED");                                // truncated varint
  CHECK(first_error(bytes{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}) ==
        "ONNX_MALFORMED");                                                          // 11-byte varint
  CHECK(first_error(bytes{0x3a, 0x10, 0x00}) == "ONNX_MALFORMED");                  // length past end
  CHECK(first_error(bytes{0x0b}) == "ONNX_MALFORMED");                              // group
  CHECK(first_error(bytes{0x00, 0x01}) == "ONNX_MALFORMED");                        // field 0
  CHECK(first_error(pb().string_field(1, "x").build()) == "ONNX_MALFORMED");        // wrong wire type
  CHECK(first_error(pb().varint_field(1, 8).build()) == "ONNX_MISSING_GRAPH");
}

TEST_CASE("onnx: missing header fields warn", "[onnx]") {
  issue_sink issues;
  parse_onnx(view(pb().message(7, simple_graph()).build()), issues);
  CHECK(issues.has("ONNX_MISSING_IR_VERSION"));
  CHECK(issues.has("ONNX_MISSING_OPSET"));
  CHECK_FALSE(issues.has_errors());
}

TEST_CASE("onnx: initializer checks", "[onnx]") {
  auto with = [](const pb& tensor) {
    pb g = simple_graph();
    g.message(5, tensor);
    return model(g).build();
  };
  CHECK(first_error(with(initializer("a", {3}, 1, 8))) == "ONNX_INITIALIZER_SIZE_MISMATCH");
  CHECK(first_error(with(initializer("a", {3}, 99, 8))) == "ONNX_UNKNOWN_DATA_TYPE");
  CHECK(first_error(with(initializer("a", {~0ULL}, 1, 8))) == "ONNX_BAD_DIMENSION");
  CHECK(first_error(with(initializer("a", {1ULL << 40, 1ULL << 40}, 1, 8))) == "ONNX_OVERFLOW");
  CHECK(first_error(with(pb().varint_field(1, 4).varint_field(2, 1).string_field(8, "nodata"))) ==
        "ONNX_INITIALIZER_SIZE_MISMATCH");

  // float_data packed: 2 floats for 2 elements is fine.
  issue_sink typed;
  parse_onnx(view(with(pb().varint_field(1, 2).varint_field(2, 1).string_field(8, "f")
                         .bytes_field(4, bytes(8, 0)))),
             typed);
  CHECK(typed.items().empty());

  pb external;
  external.varint_field(1, 4).varint_field(2, 1).string_field(8, "ext").varint_field(14, 1);
  external.message(13, pb().string_field(1, "location").string_field(2, "../../etc/passwd"));
  issue_sink ext;
  const auto info = parse_onnx(view(with(external)), ext);
  CHECK(ext.has("ONNX_EXTERNAL_DATA"));
  CHECK(ext.has("ONNX_UNSAFE_EXTERNAL_PATH"));
  CHECK_FALSE(info.initializers.back().data_in_file);
}

TEST_CASE("onnx: subgraph nesting is bounded", "[onnx]") {
  pb g = simple_graph();
  for (int i = 0; i < 40; ++i) {
    pb attribute;
    attribute.string_field(1, "then_branch").message(6, g);
    pb node;
    node.string_field(4, "If").message(5, attribute);
    g = pb().message(1, node);
  }
  CHECK(first_error(model(g).build()) == "ONNX_NESTING_TOO_DEEP");

  pb shallow = simple_graph();
  pb attribute;
  attribute.string_field(1, "body").message(6, simple_graph());
  shallow.message(1, pb().string_field(4, "Loop").message(5, attribute));
  issue_sink issues;
  const auto info = parse_onnx(view(model(shallow).build()), issues);
  CHECK_FALSE(issues.has_errors());
  CHECK(info.node_count == 3); // subgraph nodes are not counted as the main graph's
}

TEST_CASE("onnx: sniffing", "[onnx]") {
  CHECK_FALSE(looks_like_onnx(view(bytes{0x80, 0x02})));
  CHECK_FALSE(looks_like_onnx(view(bytes{0x08, 0x00})));
  CHECK(looks_like_onnx(view(model(simple_graph()).build())));
}
