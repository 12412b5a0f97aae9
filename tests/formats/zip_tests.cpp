#include <catch2/catch.hpp>

#include "formats/crc32.hpp"
#include "formats/inflate.hpp"
#include "formats/zip_reader.hpp"
#include "deflate_fixture.hpp"
#include "zip_builder.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

zip_archive read(const bytes& b, issue_sink& issues, zip_options options = {}) {
  return read_zip(view(b), issues, options);
}

std::vector<zip_item> two_entries() {
  return {item("a/data.pkl", from_string("pickle-bytes")), item("a/data/0", from_string("0123"))};
}

} // namespace

TEST_CASE("crc32 matches the zip polynomial", "[zip]") {
  const auto text = from_string("123456789");
  CHECK(crc32(view(text)) == 0xCBF43926u);
  CHECK(crc32(view(from_string("6789")), crc32(view(from_string("12345")))) == 0xCBF43926u);
  CHECK(crc32({}, 0xCBF43926u) == 0xCBF43926u); // an empty span continues, whatever its data()
  CHECK(crc32(view(bytes{})) == 0u);
}

TEST_CASE("zip: a clean archive", "[zip]") {
  issue_sink issues;
  const auto file = make_zip(two_entries());
  const auto z = read(file, issues);
  CHECK(issues.items().empty());
  REQUIRE(z.parsed);
  REQUIRE(z.entries.size() == 2);
  CHECK(z.entries[1].name == "a/data/0");
  CHECK(z.entries[1].data_valid);
  CHECK(z.entries[1].crc_checked);
  const auto data = z.data(view(file), z.entries[1]);
  CHECK(std::string(data.begin(), data.end()) == "0123");
}

TEST_CASE("zip: torch-style ZIP64 records and data descriptors", "[zip]") {
  auto items = two_entries();
  for (auto& item : items)
    item.data_descriptor = true;
  zip_layout layout;
  layout.zip64 = true;
  issue_sink issues;
  const auto z = read(make_zip(items, layout), issues);
  CHECK(issues.items().empty());
  CHECK(z.zip64);
  CHECK(z.entries.size() == 2);
}

TEST_CASE("zip: end record problems", "[zip]") {
  issue_sink none;
  read(from_string("PK\x03\x04 not really a zip"), none);
  CHECK(none.has("ZIP_NO_END_RECORD"));

  zip_layout trailing;
  trailing.trailing = from_string("appended");
  issue_sink trail;
  read(make_zip(two_entries(), trailing), trail);
  CHECK(trail.has("ZIP_TRAILING_DATA"));

  zip_layout gap;
  gap.between_cd_and_end = from_string("xx");
  issue_sink gap_issues;
  read(make_zip(two_entries(), gap), gap_issues);
  CHECK(gap_issues.has("ZIP_CENTRAL_DIRECTORY_GAP"));

  zip_layout outside;
  outside.cd_offset_override = 0x7FFFFFF0;
  issue_sink bad_cd;
  read(make_zip(two_entries(), outside), bad_cd);
  CHECK(bad_cd.has("ZIP_BAD_CENTRAL_DIRECTORY"));

  zip_layout wrong_count;
  wrong_count.entry_count = 40;
  issue_sink count;
  read(make_zip(two_entries(), wrong_count), count);
  CHECK(count.has("ZIP_BAD_CENTRAL_DIRECTORY"));

  auto multi = make_zip(two_entries());
  multi[multi.size() - 22 + 4] = 1; // disk number
  issue_sink disk;
  read(multi, disk);
  CHECK(disk.has("ZIP_MULTI_DISK"));

  auto zip64 = make_zip(two_entries());
  zip64[zip64.size() - 22 + 16] = 0xFF; // cd offset 0xFFFFFFFF without a locator
  zip64[zip64.size() - 22 + 17] = 0xFF;
  zip64[zip64.size() - 22 + 18] = 0xFF;
  zip64[zip64.size() - 22 + 19] = 0xFF;
  issue_sink z64;
  read(zip64, z64);
  CHECK(z64.has("ZIP_BAD_ZIP64"));
}

TEST_CASE("zip: entry limits", "[zip]") {
  zip_options options;
  options.max_entries = 1;
  issue_sink issues;
  read(make_zip(two_entries()), issues, options);
  CHECK(issues.has("ZIP_TOO_MANY_ENTRIES"));

  auto items = two_entries();
  items[0].method = 8;
  items[0].uncompressed_size = 0x7FFFFFFF; // 12 bytes claiming 2 GiB
  issue_sink bomb;
  read(make_zip(items), bomb);
  CHECK(bomb.has("ZIP_BOMB"));
  CHECK(bomb.has("ZIP_COMPRESSED_ENTRY"));

  zip_options total;
  total.max_total_uncompressed = 8;
  issue_sink too_big;
  read(make_zip(two_entries()), too_big, total);
  CHECK(too_big.has("ZIP_BOMB"));
}

TEST_CASE("zip: the tricks other readers accept silently", "[zip]") {
  auto mismatch = two_entries();
  mismatch[0].local_name = "a/innocent.txt";
  mismatch[0].name = "a/innocent.pkl"; // same length keeps the layout valid
  mismatch[0].local_name = "a/evildata.pk";
  issue_sink name;
  read(make_zip(mismatch), name);
  CHECK(name.has("ZIP_NAME_MISMATCH"));

  auto bad_crc = two_entries();
  bad_crc[1].crc = 0x12345678;
  issue_sink crc;
  const auto z = read(make_zip(bad_crc), crc);
  CHECK(crc.has("ZIP_CRC_MISMATCH"));
  CHECK_FALSE(crc.has_errors()); // torch still loads it: suspicious, not fatal

  auto encrypted = two_entries();
  encrypted[0].flags = 1;
  issue_sink enc;
  read(make_zip(encrypted), enc);
  CHECK(enc.has("ZIP_ENCRYPTED"));

  auto method = two_entries();
  method[0].method = 12; // bzip2
  issue_sink unsupported;
  read(make_zip(method), unsupported);
  CHECK(unsupported.has("ZIP_UNSUPPORTED_COMPRESSION"));

  auto sizes = two_entries();
  sizes[1].uncompressed_size = 99;
  issue_sink size;
  read(make_zip(sizes), size);
  CHECK(size.has("ZIP_SIZE_MISMATCH"));

  auto dup = two_entries();
  dup[1].name = dup[0].name;
  dup[1].data = dup[0].data;
  issue_sink duplicate;
  read(make_zip(dup), duplicate);
  CHECK(duplicate.has("ZIP_DUPLICATE_NAME"));

  for (std::string bad : {"../evil.pkl", "/etc/passwd", "a\\b.pkl", "C:/x", "a/../../b"}) {
    std::vector<zip_item> items{item(bad, from_string("x"))};
    issue_sink unsafe;
    read(make_zip(items), unsafe);
    CHECK(unsafe.has("ZIP_UNSAFE_NAME"));
  }

  zip_layout prefixed;
  prefixed.prefix = from_string("#!/bin/sh\nexit 0\n");
  issue_sink polyglot;
  read(make_zip(two_entries(), prefixed), polyglot);
  CHECK(polyglot.has("ZIP_PREPENDED_DATA"));

  zip_layout alias;
  alias.local_offset_override_for_last = 0; // both entries claim the first record
  issue_sink overlap;
  read(make_zip({item("a/x", from_string("abc")), item("a/x2", from_string("abc"))}, alias), overlap);
  CHECK((overlap.has("ZIP_NAME_MISMATCH") || overlap.has("ZIP_OVERLAPPING_ENTRIES")));
}

TEST_CASE("zip: overlapping entries with matching headers", "[zip]") {
  // Two directory records pointing at one local record with the same name would be a duplicate;
  // craft an entry whose stated size swallows the next local header instead.
  std::vector<zip_item> items{item("a/x", from_string("abc")), item("a/y", from_string("def"))};
  auto file = make_zip(items);
  issue_sink clean;
  auto z = read(file, clean);
  REQUIRE(clean.items().empty());
  // Patch the first entry's sizes (local and central) to cover the second record too.
  const std::uint32_t swallow = 3 + 30 + 3 + 3;
  std::memcpy(file.data() + 18, &swallow, 4);
  std::memcpy(file.data() + 22, &swallow, 4);
  const auto cd = z.central_directory_offset;
  std::memcpy(file.data() + cd + 20, &swallow, 4);
  std::memcpy(file.data() + cd + 24, &swallow, 4);
  issue_sink issues;
  read(file, issues);
  CHECK(issues.has("ZIP_OVERLAPPING_ENTRIES"));
}

TEST_CASE("zip: local header checks", "[zip]") {
  auto file = make_zip(two_entries());
  file[0] = 'X'; // breaks the first local signature
  issue_sink bad_local;
  read(file, bad_local);
  CHECK(bad_local.has("ZIP_BAD_LOCAL_HEADER"));

  auto flags = make_zip(two_entries());
  flags[6] = 0x08; // local flags differ from central
  issue_sink header;
  read(flags, header);
  CHECK(header.has("ZIP_HEADER_MISMATCH"));

  auto items = two_entries();
  items[1].data_descriptor = true;
  auto descriptor = make_zip(items);
  // Corrupt the descriptor CRC (right after the second entry's data and signature).
  const auto z = read_zip(view(descriptor), *std::make_unique<issue_sink>());
  const auto at = z.entries[1].data_offset + z.entries[1].compressed_size + 4;
  descriptor[at] ^= 0xFF;
  issue_sink desc;
  read(descriptor, desc);
  CHECK(desc.has("ZIP_HEADER_MISMATCH"));

  std::vector<zip_item> big{item("a/x", bytes(64, 1))};
  auto truncated = make_zip(big);
  // Claim more data than the archive holds.
  const std::uint32_t huge = 1'000'000;
  const auto cd = read_zip(view(truncated), *std::make_unique<issue_sink>()).central_directory_offset;
  std::memcpy(truncated.data() + cd + 20, &huge, 4);
  std::memcpy(truncated.data() + cd + 24, &huge, 4);
  std::memcpy(truncated.data() + 18, &huge, 4);
  std::memcpy(truncated.data() + 22, &huge, 4);
  issue_sink bounds;
  read(truncated, bounds);
  CHECK(bounds.has("ZIP_ENTRY_OUT_OF_BOUNDS"));
}

TEST_CASE("zip: unsafe name predicate", "[zip]") {
  CHECK_FALSE(is_unsafe_zip_name("archive/data/0"));
  CHECK_FALSE(is_unsafe_zip_name("a/..b/c"));
  CHECK(is_unsafe_zip_name(""));
  CHECK(is_unsafe_zip_name(".."));
  CHECK(is_unsafe_zip_name(std::string("a\0b", 3)));
}

TEST_CASE("inflate: stored, fixed and dynamic blocks", "[zip][inflate]") {
  std::string error;
  const bytes stored{0x01, 0x03, 0x00, 0xfc, 0xff, 'a', 'b', 'c'};
  auto out = inflate_raw(view(stored), 100, error);
  REQUIRE(out);
  CHECK(std::string(out->begin(), out->end()) == "abc");

  const auto fixed = lit(
    "\x6b\x60\x4a\x2e\xc8\x2f\xce\xac\xe0\x2a\xae\x2c\x2e\x49\xcd\xe5\x2a\x64\x88\x60\x62\x60"
    "\x60\xc8\x4c\x29\x64\x6c\x2d\x64\x0a\x2a\x64\xd6\x03\x00");
  out = inflate_raw(view(fixed), 1000, error);
  REQUIRE(out);
  CHECK(std::string(out->begin(), out->end()) ==
        std::string("\x80\x02\x63posix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.", 34));

  const auto dynamic = lit(
    "\x55\xd2\x3b\x6e\x03\x31\x0c\x04\xd0\x2b\xad\xf8\xd1\x07\x86\xcf\x62\xa4\x70\x65\xb7\x0e"
    "\x90\xdb\x27\xd0\xcc\x28\x60\x39\x10\x25\x3e\x72\xf7\xf5\xfc\x79\x5c\xf7\xef\xaf\xf7\xe7"
    "\xf9\xb8\x6e\xaf\xbf\xd4\x98\xda\x4e\xc6\x14\x3b\x39\xd3\xda\x29\x54\xd9\x77\x4c\x46\xcb"
    "\x1d\x3b\xa3\xe3\x74\xe8\x21\xdc\x9d\x8c\x1d\x0f\x2f\xc6\x89\xae\x4d\x24\x47\x94\xc9\x50"
    "\xdd\x8e\x6a\x20\xcb\x35\x0c\x59\x32\x46\xc9\x9c\xaf\x8b\xd6\x79\x2e\xdb\x82\xbc\x09\xe7"
    "\x6c\x2f\xdd\xc0\x86\x4c\xba\x86\xfb\x26\x5e\xa2\xde\xc4\x5b\x18\xdd\xc4\x0b\xf0\x4d\xbc"
    "\xc5\x1d\xcb\x17\xbc\x2f\xdf\x62\xbd\x7c\xc9\xfe\xf2\x4d\x44\xf1\x3a\xf8\x2e\x9e\x61\x3b"
    "\x2e\xde\x44\xbd\x8b\x97\xfc\xa8\xe2\x19\xc6\x71\xf1\x26\x3e\x95\x8b\xd7\xc1\xf5\xf3\x65"
    "\xd9\x4f\xbc\xc6\xf3\xc3\xc3\xf8\x7e\x7c\xc8\x21\x5f\xc0\x13\xf2\x39\xfa\x87\x7c\x8d\xe7"
    "\xf2\xf1\xfa\xd9\x1e\xb6\x15\xe2\x4d\x70\x42\xbc\xc1\xbf\x54\xbc\xc1\x73\xf1\x06\xef\xaf"
    "\x9a\xf3\xaa\xf5\xd9\xea\x7b\x69\xb5\x5f\x7a\xf5\x64\x14\x6e\x66\x9d\x26\x7b\x9d\x36\x47"
    "\xdd\x46\xce\xba\xad\x5c\xff\xdb\xfc\x05");
  out = inflate_raw(view(dynamic), 10'000, error);
  REQUIRE(out);
  std::string expected;
  for (int i = 0; i < 60; ++i)
    expected += "key_" + std::to_string(i) + "=value_" + std::to_string(i * i % 97) + ";";
  CHECK(std::string(out->begin(), out->end()) == expected);
  CHECK(crc32(view(*out)) == 1636817267u);

  CHECK_FALSE(inflate_raw(view(dynamic), 100, error)); // output cap
  const auto head = inflate_prefix(view(dynamic), 4);
  REQUIRE(head);
  CHECK(std::string(head->begin(), head->end()) == "key_");
  CHECK_FALSE(inflate_prefix(view(bytes{0x07}), 4));
  CHECK_FALSE(inflate_raw(view(bytes(dynamic.begin(), dynamic.begin() + 100)), 10'000, error));
  CHECK_FALSE(inflate_raw(view(bytes{0x07}), 100, error)); // reserved block type
  CHECK_FALSE(inflate_raw(view(bytes{0x01, 0x03, 0x00, 0x00, 0x00}), 100, error)); // LEN/NLEN
}

TEST_CASE("inflate: streams written by Python's zlib round-trip", "[zip][inflate]") {
  for (const auto& c : deflate_cases()) {
    INFO("case " << c.name);
    const auto plain = deflate_fixture(c.name + ".plain");
    const auto deflated = deflate_fixture(c.name + ".deflate");
    REQUIRE(plain.size() == c.size);
    CHECK(crc32(view(plain)) == c.crc);
    const auto half = plain.size() / 2;
    CHECK(crc32({plain.data() + half, plain.size() - half}, crc32({plain.data(), half})) == c.crc);

    std::string error;
    const auto out = inflate_raw(view(deflated), plain.size(), error);
    REQUIRE(out);
    CHECK(*out == plain);
    CHECK(out->capacity() <= plain.size()); // never allocated past the declared size

    const auto head = inflate_prefix(view(deflated), 64);
    REQUIRE(head);
    CHECK(*head == bytes(plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(64, plain.size()))));

    // More output than declared (a size lie, or a bomb): stops at the declared size.
    if (!plain.empty()) {
      error.clear();
      CHECK_FALSE(inflate_raw(view(deflated), plain.size() - 1, error));
      CHECK(error == "output exceeds the declared size");
    }
    // Truncated anywhere: a prefix of a valid stream is never valid on its own.
    for (const auto cut : {deflated.size() - 1, deflated.size() / 2, std::size_t{0}}) {
      error.clear();
      CHECK_FALSE(inflate_raw({deflated.data(), cut}, plain.size(), error));
      CHECK(error == "input ends inside the stream");
    }
  }
}

TEST_CASE("inflate: caps, truncation, corruption and bounded memory", "[zip][inflate]") {
  const auto zeros = deflate_fixture("zeros_1mib.deflate"); // 1 MiB of zeros in ~1 KiB
  std::string error;

  // A bomb declaring a small size stops at that size rather than at its own.
  CHECK_FALSE(inflate_raw(view(zeros), 4096, error));
  CHECK(error == "output exceeds the declared size");
  const auto head = inflate_prefix(view(zeros), 4096);
  REQUIRE(head);
  CHECK(*head == bytes(4096, 0));
  CHECK(inflate_prefix(view(zeros), 0) == std::optional<bytes>(bytes{}));

  // A declared size far beyond what comes out costs what comes out, not what was declared.
  const auto text = deflate_fixture("text_level6.deflate");
  const auto out = inflate_raw(view(text), 1ULL << 40, error);
  REQUIRE(out);
  CHECK(out->size() == 300'000);
  CHECK(out->capacity() < (1u << 20));
  const auto empty = inflate_raw(view(deflate_fixture("empty.deflate")), 1ULL << 40, error);
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(empty->capacity() < (1u << 20));

  // Bytes after the end of the stream are not part of it (as before zlib).
  auto trailing = deflate_fixture("one_byte.deflate");
  trailing.push_back(0xFF);
  const auto one = inflate_raw(view(trailing), 1, error);
  REQUIRE(one);
  CHECK(*one == bytes{0x80});

  // Corruption: a bad block type, a distance before the start of the output.
  error.clear();
  CHECK_FALSE(inflate_raw(view(bytes{0x07}), 100, error));
  CHECK_FALSE(error.empty());
  CHECK_FALSE(inflate_prefix(view(bytes{0x07}), 4));
  // Fixed block: literal 'a', then length 3 at distance 2 (only one byte out so far).
  error.clear();
  CHECK_FALSE(inflate_raw(view(bytes{0x4b, 0x04, 0x42, 0x00}), 100, error));
  CHECK(error.find("distance") != std::string::npos); // zlib: "invalid distance too far back"

  // A truncated stream is no prefix either, once the cut comes before `count` bytes are out.
  CHECK_FALSE(inflate_prefix({text.data(), 10}, 4096));
}
