#include <catch2/catch.hpp>

#include "formats/mapped_file.hpp"
#include "formats/torch_archive.hpp"
#include "deflate_fixture.hpp"
#include "pickle_builder.hpp"
#include "torch_fixture.hpp"
#include "zip_builder.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

bytes state_dict_pickle() {
  pickle_builder p;
  p.proto(2).global("collections", "OrderedDict").empty_tuple().reduce().binput(0).mark();
  p.unicode("w").tensor("FloatStorage", "0", 6, {2, 3});
  p.unicode("b").tensor("HalfStorage", "1", 2, {2});
  return p.setitems().stop().build();
}

std::vector<zip_item> torch_items() {
  return {item("m/data.pkl", state_dict_pickle()), item("m/byteorder", from_string("little")),
          item("m/data/0", bytes(24, 0)), item("m/data/1", bytes(4, 0)),
          item("m/version", from_string("3\n"))};
}

torch_archive_info inspect(const std::vector<zip_item>& items, issue_sink& issues) {
  const auto file = make_zip(items);
  return inspect_torch_zip(view(file), issues);
}

struct mapped_fixture {
  mapped_file file;
  std::span<const std::uint8_t> bytes() const { return file.bytes(); }
};

mapped_fixture open_fixture(const char* name) {
  const auto path = torch_fixture(name);
  std::string error;
  auto file = mapped_file::open(path, error);
  REQUIRE(file.is_open());
  return mapped_fixture{std::move(file)};
}

} // namespace

TEST_CASE("torch zip: a hand-built torch.save archive", "[torch]") {
  issue_sink issues;
  const auto file = make_zip(torch_items());
  const auto info = inspect_torch_zip(view(file), issues);
  CHECK_FALSE(issues.has_errors());
  CHECK(info.format == "pytorch_zip");
  CHECK(info.prefix == "m");
  CHECK(info.byteorder == std::optional<std::string>("little"));
  CHECK(info.version == std::optional<std::string>("3"));
  REQUIRE(info.tensors.size() == 2);
  CHECK(info.tensors[0].name == "w");
  CHECK(info.tensors[0].dtype == "F32");
  CHECK(info.tensors[0].byte_size == 24);
  CHECK(info.tensors[0].data_in_file);
  CHECK(info.tensors[0].data_end - info.tensors[0].data_begin == 24);
  REQUIRE(info.storages.size() == 2);
  CHECK(info.storages[1].dtype == "F16");
  CHECK(info.storages[1].present);
}

TEST_CASE("torch zip: layout errors", "[torch]") {
  auto missing_storage = torch_items();
  missing_storage.erase(missing_storage.begin() + 3);
  issue_sink missing;
  inspect(missing_storage, missing);
  CHECK(missing.has("TORCH_MISSING_STORAGE"));

  auto wrong_size = torch_items();
  wrong_size[2].data = bytes(20, 0);
  issue_sink size;
  inspect(wrong_size, size);
  CHECK(size.has("TORCH_STORAGE_SIZE_MISMATCH"));

  auto no_pkl = torch_items();
  no_pkl.erase(no_pkl.begin());
  issue_sink pkl;
  inspect(no_pkl, pkl);
  CHECK(pkl.has("TORCH_MISSING_DATA_PKL"));
  CHECK(pkl.has("TORCH_UNREFERENCED_ENTRY"));

  auto no_version = torch_items();
  no_version.pop_back();
  issue_sink version;
  inspect(no_version, version);
  CHECK(version.has("TORCH_MISSING_VERSION"));

  auto prefixes = torch_items();
  prefixes.push_back(item("other/x", from_string("x")));
  issue_sink prefix;
  inspect(prefixes, prefix);
  CHECK(prefix.has("TORCH_MULTIPLE_PREFIXES"));

  auto big = torch_items();
  big[1].data = from_string("big");
  issue_sink endian;
  inspect(big, endian);
  CHECK(endian.has("TORCH_BIG_ENDIAN"));
  big[1].data = from_string("middle");
  issue_sink bad_order;
  inspect(big, bad_order);
  CHECK(bad_order.has("TORCH_BAD_BYTEORDER"));

  auto no_order = torch_items();
  no_order.erase(no_order.begin() + 1);
  issue_sink order;
  inspect(no_order, order);
  CHECK(order.has("TORCH_MISSING_BYTEORDER"));
  CHECK_FALSE(order.has_errors());

  auto compressed = torch_items();
  compressed[3].method = 8;
  issue_sink deflated;
  inspect(compressed, deflated);
  CHECK(deflated.has("TORCH_COMPRESSED_STORAGE"));
}

TEST_CASE("torch zip: views past their storage", "[torch]") {
  pickle_builder p;
  p.proto(2).empty_dict().mark().unicode("w").tensor("FloatStorage", "0", 2, {4}).setitems().stop();
  auto items = torch_items();
  items[0].data = p.build();
  items[2].data = bytes(8, 0);
  items.erase(items.begin() + 3);
  issue_sink issues;
  inspect(items, issues);
  CHECK(issues.has("TORCH_TENSOR_OUT_OF_STORAGE"));
}

TEST_CASE("torch zip: pickles hidden under other names are scanned", "[torch]") {
  auto items = torch_items();
  items.push_back(item("m/extra.bin", pickle_builder().proto(2).global("os", "system").stop().build()));
  items.push_back(item("m/notes.joblib", pickle_builder().raw("cposix\nsystem\n.").build()));
  issue_sink issues;
  const auto info = inspect(items, issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(info.pickles_scanned.size() == 3);
}

TEST_CASE("torch zip: deflated pickles are inflated and scanned", "[torch]") {
  auto items = torch_items();
  // The raw-deflate (fixed Huffman) form of a pickle calling posix.system('id').
  auto deflated = item("m/hidden.pkl",
                       lit("\x6b\x60\x4a\x2e\xc8\x2f\xce\xac\xe0\x2a\xae\x2c\x2e\x49\xcd\xe5\x2a"
                           "\x64\x88\x60\x62\x60\x60\xc8\x4c\x29\x64\x6c\x2d\x64\x0a\x2a\x64\xd6"
                           "\x03\x00"));
  deflated.method = 8;
  deflated.uncompressed_size = 34;
  deflated.crc = crc32(view(lit("\x80\x02\x63posix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")));
  items.push_back(deflated);
  issue_sink issues;
  inspect(items, issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK_FALSE(issues.has("ZIP_CRC_MISMATCH"));

  auto broken = torch_items();
  auto garbage = item("m/broken.pkl", bytes{0x07, 0x00});
  garbage.method = 8;
  garbage.uncompressed_size = 10;
  broken.push_back(garbage);
  issue_sink unscannable;
  inspect(broken, unscannable);
  CHECK(unscannable.has("ZIP_UNSCANNABLE_PICKLE"));
}

namespace {

// The raw-deflate (fixed Huffman, Python's zlib) form of a pickle calling posix.system('id').
bytes deflated_evil_pickle() {
  return lit("\x6b\x60\x4a\x2e\xc8\x2f\xce\xac\xe0\x2a\xae\x2c\x2e\x49\xcd\xe5\x2a\x64\x88\x60"
             "\x62\x60\x60\xc8\x4c\x29\x64\x6c\x2d\x64\x0a\x2a\x64\xd6\x03\x00");
}

// The message of the first issue with `code`, or "".
std::string message_of(const issue_sink& issues, std::string_view code) {
  for (const auto& i : issues.items())
    if (i.code == code)
      return i.message;
  return {};
}

} // namespace

TEST_CASE("torch zip: deflated pickles that lie about their size or end early", "[torch]") {
  const auto with_deflated = [](bytes data, std::uint32_t declared) {
    auto items = torch_items();
    auto entry = item("m/hidden.pkl", std::move(data));
    entry.method = 8;
    entry.uncompressed_size = declared;
    items.push_back(std::move(entry));
    issue_sink issues;
    inspect(items, issues);
    return issues;
  };
  // More output than declared (34 bytes come out): inflating stops at the declared size.
  const auto longer = with_deflated(deflated_evil_pickle(), 20);
  CHECK(longer.has("ZIP_UNSCANNABLE_PICKLE"));
  CHECK(message_of(longer, "ZIP_UNSCANNABLE_PICKLE").find("output exceeds the declared size") != std::string::npos);
  // Less output than declared.
  CHECK(with_deflated(deflated_evil_pickle(), 40).has("ZIP_UNSCANNABLE_PICKLE"));
  // Truncated stream.
  auto cut = deflated_evil_pickle();
  cut.resize(cut.size() - 4);
  const auto truncated = with_deflated(cut, 34);
  CHECK(truncated.has("ZIP_UNSCANNABLE_PICKLE"));
  CHECK(message_of(truncated, "ZIP_UNSCANNABLE_PICKLE").find("input ends inside the stream") != std::string::npos);

  // A real bomb (1 MiB of zeros in about 1 KiB, Python's zlib at level 9): declared honestly it
  // is a ZIP_BOMB by ratio; declared small, it stops at that size.
  const auto zeros = deflate_fixture("zeros_1mib.deflate");
  const auto honest = with_deflated(zeros, 1u << 20);
  CHECK(honest.has("ZIP_BOMB"));
  const auto lying = with_deflated(zeros, 4096);
  CHECK_FALSE(lying.has("ZIP_BOMB"));
  CHECK(lying.has("ZIP_UNSCANNABLE_PICKLE"));
  CHECK(message_of(lying, "ZIP_UNSCANNABLE_PICKLE").find("output exceeds the declared size") != std::string::npos);
}

TEST_CASE("torch legacy: hand-built file", "[torch]") {
  pickle_builder p;
  p.proto(2).op(0x8a).byte(10).raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)).stop();
  p.proto(2).op('M').raw(std::string("\xe9\x03", 2)).stop();
  p.proto(2).empty_dict().stop();
  p.proto(2).empty_dict().mark().unicode("w").tensor("FloatStorage", "k1", 2, {2}).setitems().stop();
  p.proto(2).op(']').mark().unicode("k1").op('e').stop();
  auto file = p.build();
  REQUIRE(looks_like_torch_legacy(view(file)));
  auto good = file;
  put<std::uint64_t>(good, 2);
  good.insert(good.end(), 8, 0);
  issue_sink issues;
  const auto info = inspect_pickle_file(view(good), issues);
  CHECK(issues.items().empty());
  CHECK(info.legacy);
  REQUIRE(info.tensors.size() == 1);
  CHECK(info.tensors[0].data_in_file);
  CHECK(info.tensors[0].data_end == good.size());

  auto short_file = file;
  put<std::uint64_t>(short_file, 2);
  issue_sink truncated;
  inspect_pickle_file(view(short_file), truncated);
  CHECK(truncated.has("TORCH_LEGACY_TRUNCATED"));

  auto wrong = file;
  put<std::uint64_t>(wrong, 1);
  wrong.insert(wrong.end(), 4, 0);
  wrong.push_back(0);
  issue_sink mismatch;
  inspect_pickle_file(view(wrong), mismatch);
  CHECK(mismatch.has("TORCH_STORAGE_SIZE_MISMATCH"));
  CHECK(mismatch.has("TORCH_TRAILING_DATA"));
}

TEST_CASE("torch legacy: header errors", "[torch]") {
  auto header = [](std::string_view protocol, bool keys_are_strings) {
    pickle_builder p;
    p.proto(2).op(0x8a).byte(10).raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)).stop();
    p.proto(2).op('M').raw(protocol).stop();
    p.proto(2).empty_dict().stop();
    p.proto(2).empty_dict().stop();
    if (keys_are_strings)
      p.proto(2).op(']').mark().unicode("zz").op('e').stop();
    else
      p.proto(2).binint1(3).stop();
    return p.build();
  };
  issue_sink protocol;
  inspect_pickle_file(view(header(std::string("\xea\x03", 2), true)), protocol);
  CHECK(protocol.has("TORCH_LEGACY_BAD_PROTOCOL"));
  CHECK(protocol.has("TORCH_MISSING_STORAGE"));
  issue_sink keys;
  inspect_pickle_file(view(header(std::string("\xe9\x03", 2), false)), keys);
  CHECK(keys.has("TORCH_LEGACY_BAD_KEYS"));

  pickle_builder p;
  p.proto(2).op(0x8a).byte(10).raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)).stop();
  issue_sink short_header;
  inspect_pickle_file(view(p.build()), short_header);
  CHECK(short_header.has("TORCH_LEGACY_TRUNCATED"));

  pickle_builder q;
  q.proto(2).op(0x8a).byte(10).raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10)).stop();
  q.proto(2).op('M').raw(std::string("\xe9\x03", 2)).stop().proto(2).empty_dict().stop();
  q.proto(2).empty_dict().mark().unicode("w").tensor("QUInt2x4Storage", "k", 2, {2}).setitems().stop();
  q.proto(2).op(']').mark().unicode("k").op('e').stop();
  issue_sink unknown_type;
  inspect_pickle_file(view(q.build()), unknown_type);
  CHECK_FALSE(unknown_type.has("TORCH_UNKNOWN_STORAGE_TYPE")); // QUInt2x4 is known: 1 byte
}

TEST_CASE("torch fixtures: torch.save state dict", "[torch][fixtures]") {
  const auto f = open_fixture("state_dict.pt");
  issue_sink issues;
  const auto info = inspect_torch_zip(f.bytes(), issues);
  CHECK_FALSE(issues.has_errors());
  CHECK(info.format == "pytorch_zip");
  CHECK(info.prefix == "state_dict");
  REQUIRE(info.tensors.size() == 5);
  CHECK(info.tensors[0].name == "encoder.weight");
  CHECK(info.tensors[0].shape == std::vector<std::uint64_t>{3, 4});
  CHECK(info.tensors[2].dtype == "F16");
  CHECK(info.tensors[3].dtype == "BF16");
  CHECK(info.tensors[3].shape.empty());
  CHECK(info.tensors[4].dtype == "I64");
  for (const auto& t : info.tensors)
    CHECK(t.data_in_file);
  for (const auto& g : info.globals)
    CHECK(g.safety == global_safety::safe);
}

TEST_CASE("torch fixtures: SD-style checkpoint with views", "[torch][fixtures]") {
  const auto f = open_fixture("sd_style.ckpt");
  issue_sink issues;
  const auto info = inspect_torch_zip(f.bytes(), issues);
  CHECK_FALSE(issues.has_errors());
  REQUIRE(info.tensors.size() == 3);
  CHECK(info.tensors[0].name == "state_dict.model.diffusion_model.input_blocks.0.0.weight");
  const auto& view_tensor = info.tensors[2];
  CHECK(view_tensor.name == "state_dict.first_stage_model.decoder.conv_in.bias");
  CHECK(view_tensor.shape == std::vector<std::uint64_t>{2, 5});
  // base[10:20] starts 10 floats into the shared 20-float storage.
  CHECK(view_tensor.data_begin - info.tensors[1].data_begin == 6 * 4);
}

TEST_CASE("torch fixtures: malicious checkpoint", "[torch][fixtures]") {
  const auto f = open_fixture("malicious.pt");
  issue_sink issues;
  const auto info = inspect_torch_zip(f.bytes(), issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  bool found = false;
  for (const auto& g : info.globals)
    found = found || (g.module == "posix" && g.name == "system" && g.safety == global_safety::unsafe);
  CHECK(found);
}

TEST_CASE("torch fixtures: legacy format", "[torch][fixtures]") {
  const auto f = open_fixture("legacy.pt");
  REQUIRE(looks_like_torch_legacy(f.bytes()));
  issue_sink issues;
  const auto info = inspect_pickle_file(f.bytes(), issues);
  CHECK(issues.items().empty());
  CHECK(info.legacy);
  REQUIRE(info.tensors.size() == 5);
  CHECK(info.tensors[1].name == "encoder.bias");
  for (const auto& t : info.tensors)
    CHECK(t.data_in_file);
}

TEST_CASE("torch fixtures: TorchScript archive", "[torch][fixtures]") {
  const auto f = open_fixture("scripted.pt");
  issue_sink issues;
  const auto info = inspect_torch_zip(f.bytes(), issues);
  CHECK_FALSE(issues.has_errors());
  CHECK_FALSE(issues.has("PICKLE_UNLISTED_GLOBAL"));
  CHECK(info.format == "torchscript");
  CHECK(info.pickles_scanned.size() >= 4); // data, constants and the deflated debug pickles
  REQUIRE(info.tensors.size() == 2);
  CHECK(info.tensors[0].shape == std::vector<std::uint64_t>{2, 4});
}

TEST_CASE("torch zip: storages of unknown type", "[torch]") {
  pickle_builder p;
  p.proto(2).empty_dict().mark().unicode("w").tensor("Float8Storage", "0", 2, {2}).setitems().stop();
  auto items = torch_items();
  items[0].data = p.build();
  items.erase(items.begin() + 3);
  issue_sink issues;
  const auto info = inspect(items, issues);
  CHECK(issues.has("TORCH_UNKNOWN_STORAGE_TYPE"));
  REQUIRE(info.tensors.size() == 1);
  CHECK(info.tensors[0].dtype == "unknown");
}

TEST_CASE("torch zip: unmarked pickles are scanned under any name, in any case", "[torch]") {
  // Protocol 0 has no PROTO marker: neither the upper-case name nor the first byte gave these
  // away before.
  auto items = torch_items();
  items.push_back(item("m/EXTRA.PKL", from_string("cposix\nsystem\n(S'id'\ntR.")));
  items.push_back(item("m/notes", from_string("(dp0\nVx\np1\ncbuiltins\nexec\np2\nsS'y'\nI1\ns.")));
  // Text that merely starts like a pickle is not scanned.
  items.push_back(item("m/code/model.py", from_string("class Net:\n  pass\n")));
  issue_sink issues;
  const auto info = inspect(items, issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(std::find(info.pickles_scanned.begin(), info.pickles_scanned.end(), "m/EXTRA.PKL") !=
        info.pickles_scanned.end());
  CHECK(std::find(info.pickles_scanned.begin(), info.pickles_scanned.end(), "m/notes") !=
        info.pickles_scanned.end());
  CHECK(info.pickles_scanned.size() == 3);
  std::vector<std::string> unsafe;
  for (const auto& g : info.globals)
    if (g.safety == global_safety::unsafe)
      unsafe.push_back(g.module + "." + g.name);
  CHECK(unsafe == std::vector<std::string>{"posix.system", "builtins.exec"});
}

TEST_CASE("torch zip: __torch__ classes are allowed in TorchScript archives only", "[torch]") {
  pickle_builder p;
  p.proto(2).global("__torch__", "Net").empty_tuple().op(0x81).empty_dict().mark();
  p.unicode("w").tensor("FloatStorage", "0", 6, {2, 3});
  p.unicode("b").tensor("HalfStorage", "1", 2, {2});
  p.setitems().op('b').stop();
  auto items = torch_items();
  items[0].data = p.build();

  issue_sink plain;
  auto info = inspect(items, plain);
  CHECK(info.format == "pytorch_zip");
  CHECK(plain.has("PICKLE_UNLISTED_GLOBAL"));
  CHECK(plain.has_errors());

  items.push_back(item("m/constants.pkl", pickle_builder().proto(2).empty_tuple().stop().build()));
  issue_sink scripted;
  info = inspect(items, scripted);
  CHECK(info.format == "torchscript");
  CHECK_FALSE(scripted.has_errors());
}
