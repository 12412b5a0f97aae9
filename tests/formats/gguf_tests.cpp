#include <catch2/catch.hpp>

#include "bytes.hpp"
#include "formats/ggml_types.hpp"
#include "formats/gguf.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

// Builds GGUF files field by field.
struct gguf_builder {
  bytes header;
  bytes kvs;
  bytes infos;
  std::uint64_t kv_count = 0;
  std::uint64_t tensor_count = 0;
  std::uint32_t version = 3;
  std::uint64_t alignment = 32;
  bytes data;

  static void str(bytes& out, std::string_view s) {
    put<std::uint64_t>(out, s.size());
    put_str(out, s);
  }
  gguf_builder& kv_string(std::string_view key, std::string_view value) {
    str(kvs, key);
    put<std::uint32_t>(kvs, 8);
    str(kvs, value);
    ++kv_count;
    return *this;
  }
  gguf_builder& kv_u32(std::string_view key, std::uint32_t value) {
    str(kvs, key);
    put<std::uint32_t>(kvs, 4);
    put(kvs, value);
    ++kv_count;
    return *this;
  }
  gguf_builder& tensor(std::string_view name, std::vector<std::uint64_t> dims, std::uint32_t type,
                       std::uint64_t offset) {
    str(infos, name);
    put<std::uint32_t>(infos, static_cast<std::uint32_t>(dims.size()));
    for (auto d : dims)
      put(infos, d);
    put(infos, type);
    put(infos, offset);
    ++tensor_count;
    return *this;
  }
  bytes build() const {
    bytes out;
    put_str(out, "GGUF");
    put(out, version);
    put(out, tensor_count);
    put(out, kv_count);
    out.insert(out.end(), kvs.begin(), kvs.end());
    out.insert(out.end(), infos.begin(), infos.end());
    while (out.size() % alignment != 0)
      out.push_back(0);
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }
};

gguf_builder llama() {
  gguf_builder b;
  b.kv_string("general.architecture", "llama").kv_string("general.name", "tiny");
  b.tensor("token_embd.weight", {64, 2}, 0, 0);   // F32: 512 bytes
  b.tensor("blk.0.attn_q.weight", {32, 2}, 8, 512); // Q8_0: 2 blocks x 34 = 68 bytes
  b.data = bytes(512 + 96, 0);
  return b;
}

std::string first_error(const bytes& file) {
  issue_sink issues;
  parse_gguf(view(file), issues);
  for (const auto& i : issues.items())
    if (i.level == severity::error)
      return i.code;
  return {};
}

} // namespace

TEST_CASE("gguf: a valid file", "[gguf]") {
  issue_sink issues;
  const auto file = llama().build();
  const auto info = parse_gguf(view(file), issues);
  CHECK(issues.items().empty());
  CHECK(info.header_parsed);
  CHECK(info.version == 3);
  REQUIRE(info.tensors.size() == 2);
  CHECK(info.tensors[1].dtype == "Q8_0");
  CHECK(info.tensors[1].byte_size == 68);
  CHECK(info.tensors[1].element_count == 64);
  CHECK(info.tensors[1].data_begin == info.data_offset + 512);
  CHECK(info.metadata[0] == std::pair<std::string, std::string>{"general.architecture", "llama"});
}

TEST_CASE("gguf: header errors", "[gguf]") {
  CHECK(first_error(from_string("GGUX")) == "GGUF_BAD_MAGIC");
  auto b = llama();
  b.version = 1;
  CHECK(first_error(b.build()) == "GGUF_UNSUPPORTED_VERSION");
  b.version = 0x03000000;
  CHECK(first_error(b.build()) == "GGUF_UNSUPPORTED_VERSION");
  CHECK(first_error(from_string("GGUF\x03")) == "GGUF_TRUNCATED");

  auto many = llama();
  many.kv_count = 1ULL << 40;
  CHECK(first_error(many.build()) == "GGUF_COUNT_TOO_LARGE");
  auto tensors = llama();
  tensors.tensor_count = 1ULL << 40;
  CHECK(first_error(tensors.build()) == "GGUF_COUNT_TOO_LARGE");
}

TEST_CASE("gguf: key-value errors", "[gguf]") {
  CHECK(first_error(llama().kv_string("", "x").build()) == "GGUF_EMPTY_KEY");
  CHECK(first_error(llama().kv_string("general.name", "x").build()) == "GGUF_DUPLICATE_KEY");
  CHECK(first_error(llama().kv_u32("general.alignment", 48).build()) == "GGUF_BAD_ALIGNMENT");
  CHECK(first_error(llama().kv_string("general.alignment", "64").build()) == "GGUF_BAD_ALIGNMENT");

  auto bad_type = llama();
  gguf_builder::str(bad_type.kvs, "k");
  put<std::uint32_t>(bad_type.kvs, 13);
  ++bad_type.kv_count;
  CHECK(first_error(bad_type.build()) == "GGUF_BAD_VALUE_TYPE");

  auto nested = llama();
  gguf_builder::str(nested.kvs, "k");
  put<std::uint32_t>(nested.kvs, 9);
  put<std::uint32_t>(nested.kvs, 9);
  put<std::uint64_t>(nested.kvs, 1);
  ++nested.kv_count;
  CHECK(first_error(nested.build()) == "GGUF_NESTED_ARRAY");

  auto huge = llama();
  gguf_builder::str(huge.kvs, "k");
  put<std::uint32_t>(huge.kvs, 9);
  put<std::uint32_t>(huge.kvs, 0);
  put<std::uint64_t>(huge.kvs, (1ULL << 30) + 1);
  ++huge.kv_count;
  CHECK(first_error(huge.build()) == "GGUF_ARRAY_TOO_LARGE");

  auto long_string = llama();
  gguf_builder::str(long_string.kvs, "k");
  put<std::uint32_t>(long_string.kvs, 8);
  put<std::uint64_t>(long_string.kvs, (1ULL << 30) + 1);
  ++long_string.kv_count;
  CHECK(first_error(long_string.build()) == "GGUF_STRING_TOO_LONG");

  auto past_end = llama();
  gguf_builder::str(past_end.kvs, "k");
  put<std::uint32_t>(past_end.kvs, 8);
  put<std::uint64_t>(past_end.kvs, 1'000'000);
  ++past_end.kv_count;
  CHECK(first_error(past_end.build()) == "GGUF_TRUNCATED");

  auto array_ok = llama();
  gguf_builder::str(array_ok.kvs, "tokenizer.ggml.tokens");
  put<std::uint32_t>(array_ok.kvs, 9);
  put<std::uint32_t>(array_ok.kvs, 8);
  put<std::uint64_t>(array_ok.kvs, 2);
  gguf_builder::str(array_ok.kvs, "a");
  gguf_builder::str(array_ok.kvs, "b");
  ++array_ok.kv_count;
  issue_sink issues;
  const auto info = parse_gguf(view(array_ok.build()), issues);
  CHECK(issues.items().empty());
  CHECK(info.metadata.back().second == "[2 x STRING]");
}

TEST_CASE("gguf: alignment key changes the layout", "[gguf]") {
  gguf_builder b;
  b.alignment = 64;
  b.kv_u32("general.alignment", 64).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 64);
  b.data = bytes(80, 0);
  issue_sink issues;
  const auto info = parse_gguf(view(b.build()), issues);
  CHECK(issues.items().empty());
  CHECK(info.alignment == 64);
  CHECK(info.data_offset % 64 == 0);
}

TEST_CASE("gguf: tensor info errors", "[gguf]") {
  CHECK(first_error(llama().tensor(std::string(64, 'n'), {32}, 0, 608).build()) ==
        "GGUF_NAME_TOO_LONG");
  CHECK(first_error(llama().tensor("token_embd.weight", {32}, 0, 608).build()) ==
        "GGUF_DUPLICATE_TENSOR");
  CHECK(first_error(llama().tensor("x", {1, 1, 1, 1, 1}, 0, 608).build()) == "GGUF_TOO_MANY_DIMS");
  CHECK(first_error(llama().tensor("x", {1ULL << 63}, 0, 608).build()) == "GGUF_BAD_DIMENSION");
  CHECK(first_error(llama().tensor("x", {32}, 4, 608).build()) == "GGUF_BAD_TENSOR_TYPE");
  CHECK(first_error(llama().tensor("x", {32}, 99, 608).build()) == "GGUF_BAD_TENSOR_TYPE");
  CHECK(first_error(llama().tensor("x", {33}, 2, 608).build()) == "GGUF_BAD_BLOCK_ALIGNMENT");
  // 2^42+1 style: element count overflows 64 bits.
  CHECK(first_error(llama().tensor("x", {1ULL << 32, 1ULL << 32, 2}, 0, 608).build()) ==
        "GGUF_OVERFLOW");
  // Element count fits but bytes do not.
  CHECK(first_error(llama().tensor("x", {1ULL << 62}, 0, 608).build()) == "GGUF_OVERFLOW");
  CHECK(first_error(llama().tensor("x", {32}, 0, 609).build()) == "GGUF_MISALIGNED_OFFSET");
}

TEST_CASE("gguf: data layout errors", "[gguf]") {
  auto gap = llama();
  gap.tensor("x", {8}, 0, 640);
  gap.data.resize(gap.data.size() + 64);
  CHECK(first_error(gap.build()) == "GGUF_BAD_OFFSET");

  auto overlap = llama();
  overlap.tensor("x", {8}, 0, 0);
  CHECK(first_error(overlap.build()) == "GGUF_BAD_OFFSET");

  auto truncated = llama();
  truncated.data.resize(300);
  CHECK(first_error(truncated.build()) == "GGUF_DATA_OUT_OF_BOUNDS");

  auto no_data = llama();
  no_data.data.clear();
  const auto built = no_data.build();
  CHECK(first_error(bytes(built.begin(), built.end() - 1)) == "GGUF_TRUNCATED");
}

TEST_CASE("gguf: ggml type table", "[gguf]") {
  CHECK(ggml_type(12)->name == "Q4_K");
  CHECK(ggml_type(12)->block_size == 256);
  CHECK(ggml_type(12)->type_size == 144);
  CHECK(ggml_type(23)->type_size == 136); // IQ4_XS
  CHECK(ggml_type(30)->name == "BF16");
  CHECK(ggml_type(39)->type_size == 17);  // MXFP4
  CHECK_FALSE(ggml_type(4));              // removed Q4_2
  CHECK_FALSE(ggml_type(32));             // removed Q4_0_4_8
  CHECK_FALSE(ggml_type(40));
}
