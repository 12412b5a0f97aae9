#include <catch2/catch.hpp>

#include "bytes.hpp"
#include "formats/dtype.hpp"
#include "formats/safetensors.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

safetensors_info parse(const bytes& file, issue_sink& issues) {
  return parse_safetensors(view(file), issues);
}

} // namespace

TEST_CASE("safetensors: a valid file yields its tensor table and metadata", "[safetensors]") {
  const std::string header =
    R"({"__metadata__":{"format":"pt","modelspec.title":"x"},)"
    R"("b":{"dtype":"F16","shape":[2,3],"data_offsets":[16,28]},)"
    R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
    R"("s":{"dtype":"I8","shape":[],"data_offsets":[28,29]},)"
    R"("e":{"dtype":"BF16","shape":[0,5],"data_offsets":[29,29]}}  )";
  const auto file = safetensors_file(header, 29);
  issue_sink issues;
  const auto info = parse(file, issues);
  CHECK(issues.items().empty());
  CHECK(info.header_parsed);
  CHECK(info.data_start == 8 + header.size());
  REQUIRE(info.tensors.size() == 4);
  CHECK(info.tensors[0].name == "b");
  CHECK(info.tensors[0].shape == std::vector<std::uint64_t>{2, 3});
  CHECK(info.tensors[0].element_count == 6);
  CHECK(info.tensors[0].data_begin == info.data_start + 16);
  CHECK(info.tensors[0].data_end == info.data_start + 28);
  CHECK(info.tensors[2].element_count == 1); // rank-0 scalar
  CHECK(info.tensors[3].element_count == 0); // empty tensor
  REQUIRE(info.metadata.size() == 2);
  CHECK(info.metadata[1] == std::pair<std::string, std::string>{"modelspec.title", "x"});
}

TEST_CASE("safetensors: sub-byte dtypes", "[safetensors]") {
  issue_sink issues;
  // 4 x F4 = 16 bits = 2 bytes; 4 x F6 = 24 bits = 3 bytes.
  parse(safetensors_file(R"({"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},)"
                         R"("b":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[2,5]},)"
                         R"("c":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[5,6]}})",
                         6),
        issues);
  CHECK(issues.items().empty());
  // 3 x F4 = 12 bits: not whole bytes.
  issue_sink odd;
  parse(safetensors_file(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2), odd);
  CHECK(odd.has("SAFETENSORS_MISALIGNED_SLICE"));
}

TEST_CASE("safetensors: header length checks", "[safetensors]") {
  issue_sink small;
  parse(bytes{1, 2, 3}, small);
  CHECK(small.has("SAFETENSORS_HEADER_TOO_SMALL"));

  bytes huge;
  put<std::uint64_t>(huge, 100'000'001);
  issue_sink too_large;
  parse(huge, too_large);
  CHECK(too_large.has("SAFETENSORS_HEADER_TOO_LARGE"));

  bytes past;
  put<std::uint64_t>(past, 50);
  put_str(past, "{}");
  issue_sink invalid_length;
  parse(past, invalid_length);
  CHECK(invalid_length.has("SAFETENSORS_INVALID_HEADER_LENGTH"));

  bytes wrap;
  put<std::uint64_t>(wrap, UINT64_MAX - 4);
  issue_sink wrapped;
  parse(wrap, wrapped);
  CHECK(wrapped.has("SAFETENSORS_HEADER_TOO_LARGE"));
}

TEST_CASE("safetensors: JSON shape errors", "[safetensors]") {
  auto code_for = [](std::string_view header) {
    issue_sink issues;
    parse_safetensors(view(safetensors_file(header, 0)), issues);
    REQUIRE_FALSE(issues.items().empty());
    return issues.items().front().code;
  };
  CHECK(code_for("{\"a\":") == "SAFETENSORS_INVALID_JSON");
  CHECK(code_for("[1,2]") == "SAFETENSORS_HEADER_NOT_OBJECT");
  CHECK(code_for("{\"a\xff\":1}") == "SAFETENSORS_HEADER_NOT_UTF8");
  CHECK(code_for(std::string(80, '[') + std::string(80, ']')) == "SAFETENSORS_HEADER_TOO_DEEP");
  CHECK(code_for(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                 R"("a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})") ==
        "SAFETENSORS_DUPLICATE_KEY");
  CHECK(code_for(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})") ==
        "SAFETENSORS_INVALID_TENSOR_ENTRY");
  CHECK(code_for(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})") ==
        "SAFETENSORS_INVALID_TENSOR_ENTRY");
  CHECK(code_for(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0]}})") ==
        "SAFETENSORS_INVALID_TENSOR_ENTRY");
  CHECK(code_for(R"({"a":[1]})") == "SAFETENSORS_INVALID_TENSOR_ENTRY");
  CHECK(code_for(R"({"a":{"dtype":"F12","shape":[0],"data_offsets":[0,0]}})") ==
        "SAFETENSORS_UNKNOWN_DTYPE");
  CHECK(code_for(R"({"a":{"dtype":"C128","shape":[0],"data_offsets":[0,0]}})") ==
        "SAFETENSORS_UNKNOWN_DTYPE");
  CHECK(code_for(R"({"__metadata__":{"a":1}})") == "SAFETENSORS_INVALID_METADATA");
  CHECK(code_for(R"({"__metadata__":[]})") == "SAFETENSORS_INVALID_METADATA");
}

TEST_CASE("safetensors: unknown fields warn, leading space is noted", "[safetensors]") {
  issue_sink issues;
  parse(safetensors_file(R"(  {"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
        issues);
  CHECK(issues.has("SAFETENSORS_UNKNOWN_FIELD"));
  CHECK(issues.has("SAFETENSORS_HEADER_LEADING_SPACE"));
  CHECK_FALSE(issues.has_errors());
}

TEST_CASE("safetensors: offsets must tile the buffer", "[safetensors]") {
  issue_sink gap;
  parse(safetensors_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                         R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                         5),
        gap);
  CHECK(gap.has("SAFETENSORS_INVALID_OFFSET"));

  issue_sink overlap; // two tensors aliasing the same bytes
  parse(safetensors_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})",
                         4),
        overlap);
  CHECK(overlap.has("SAFETENSORS_INVALID_OFFSET"));

  issue_sink reversed;
  parse(safetensors_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
        reversed);
  CHECK(reversed.has("SAFETENSORS_INVALID_OFFSET"));

  issue_sink late_start;
  parse(safetensors_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4),
        late_start);
  CHECK(late_start.has("SAFETENSORS_INVALID_OFFSET"));
}

TEST_CASE("safetensors: shape x dtype arithmetic", "[safetensors]") {
  issue_sink overflow;
  parse(safetensors_file(
          R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
        overflow);
  CHECK(overflow.has("SAFETENSORS_OVERFLOW"));

  issue_sink bits_overflow; // 2^62 elements fit, 2^62 x 32 bits does not
  parse(safetensors_file(
          R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
        bits_overflow);
  CHECK(bits_overflow.has("SAFETENSORS_OVERFLOW"));

  issue_sink mismatch;
  parse(safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
        mismatch);
  CHECK(mismatch.has("SAFETENSORS_TENSOR_SIZE_MISMATCH"));
}

TEST_CASE("safetensors: file length must match exactly", "[safetensors]") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  issue_sink short_file;
  parse(safetensors_file(header, 7), short_file);
  CHECK(short_file.has("SAFETENSORS_BUFFER_INCOMPLETE"));

  issue_sink trailing;
  auto polyglot = safetensors_file(header, 8);
  put_str(polyglot, "PK\x05\x06 trailing payload");
  parse(polyglot, trailing);
  CHECK(trailing.has("SAFETENSORS_TRAILING_DATA"));

  issue_sink exact;
  parse(safetensors_file(header, 8), exact);
  CHECK(exact.items().empty());
}

TEST_CASE("safetensors: sniffing", "[safetensors]") {
  CHECK(looks_like_safetensors(view(safetensors_file(" {}", 0))));
  CHECK_FALSE(looks_like_safetensors(view(safetensors_file("[]", 0))));
  CHECK_FALSE(looks_like_safetensors(view(bytes{0x80, 0x02, 0x8a, 0x0a})));
}

TEST_CASE("safetensors: dtype bit widths", "[safetensors]") {
  CHECK(safetensors_dtype_bits("F4") == 4u);
  CHECK(safetensors_dtype_bits("F6_E3M2") == 6u);
  for (auto name : {"F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "BOOL", "U8", "I8"})
    CHECK(safetensors_dtype_bits(name) == 8u);
  for (auto name : {"C64", "F64", "I64", "U64"})
    CHECK(safetensors_dtype_bits(name) == 64u);
  CHECK_FALSE(safetensors_dtype_bits("f32"));
  CHECK(precision_label("F8_E4M3") == "fp8");
  CHECK(precision_label("Q4_K") == "q4_k");
}

TEST_CASE("safetensors: huge names are clipped in issues", "[safetensors]") {
  const std::string name(10'000, 'n');
  issue_sink issues;
  parse(safetensors_file("{\"" + name + R"(":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
        issues);
  REQUIRE(issues.has("SAFETENSORS_UNKNOWN_FIELD"));
  CHECK(issues.items().front().location.tensor->size() <= max_issue_name + 3);
}
