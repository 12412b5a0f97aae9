#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "bytes.hpp"
#include "formats/checksum_scan.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

const std::atomic<bool> no_cancel{false};

template <class T>
void put_value(bytes& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

} // namespace

TEST_CASE("scan: SHA-256, AutoV2 and AutoV1", "[scan]") {
  const auto abc = from_string("abc");
  auto r = scan_bytes(view(abc), {}, {}, no_cancel);
  CHECK(r.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(r.autov2 == "ba7816bf8f");

  bytes big(0x110000 + 5);
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<std::uint8_t>(i % 251);
  r = scan_bytes(view(big), {}, {}, no_cancel);
  CHECK(r.sha256 == "86c21f827959a595f20bc28e7cc8dab276461f3edd56d05c19ed59fdb4f72ae9");
  CHECK(r.autov1 == "15ffd73b");
}

TEST_CASE("scan: tensor-data hash covers the bytes after the header", "[scan]") {
  auto file = from_string("HEADERabc");
  scan_request request;
  request.tensor_data_start = 6;
  const auto r = scan_bytes(view(file), request, {}, no_cancel);
  CHECK(r.tensor_sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("scan: NaN and Inf per float kind", "[scan]") {
  std::uint64_t nan = 0;
  std::uint64_t inf = 0;
  const float f32[] = {1.0f, NAN, INFINITY, -INFINITY, 0.0f};
  count_non_finite(reinterpret_cast<const std::uint8_t*>(f32), 5, float_kind::f32, nan, inf);
  CHECK(nan == 1);
  CHECK(inf == 2);
  nan = inf = 0;
  const std::uint16_t f16[] = {0x3C00, 0x7C00, 0xFC00, 0x7E00, 0x7C01};
  count_non_finite(reinterpret_cast<const std::uint8_t*>(f16), 5, float_kind::f16, nan, inf);
  CHECK(nan == 2);
  CHECK(inf == 2);
  nan = inf = 0;
  const std::uint16_t bf16[] = {0x3F80, 0x7F80, 0x7FC0, 0xFF81};
  count_non_finite(reinterpret_cast<const std::uint8_t*>(bf16), 4, float_kind::bf16, nan, inf);
  CHECK(nan == 2);
  CHECK(inf == 1);
  nan = inf = 0;
  const double f64[] = {NAN, -INFINITY, 2.0};
  count_non_finite(reinterpret_cast<const std::uint8_t*>(f64), 3, float_kind::f64, nan, inf);
  CHECK(nan == 1);
  CHECK(inf == 1);
}

TEST_CASE("scan: regions crossing chunk boundaries at odd offsets", "[scan]") {
  // 9 MiB crosses the 8 MiB chunk size; the region starts at an odd offset so an element
  // straddles the boundary.
  bytes file(9u << 20, 0);
  const std::uint64_t begin = 3;
  const std::uint64_t count = ((9u << 20) - 16) / 4;
  const std::uint64_t straddling = ((8u << 20) - begin) / 4; // the element over the boundary
  put_value(file, begin + straddling * 4, NAN);
  put_value(file, begin, INFINITY);
  put_value(file, begin + (count - 1) * 4, NAN);
  scan_request request;
  request.hash = false;
  request.regions.push_back({"t", begin, begin + count * 4, float_kind::f32, std::nullopt});
  std::uint64_t last_done = 0;
  std::uint64_t calls = 0;
  const auto r = scan_bytes(view(file), request,
                            [&](std::uint64_t done, std::uint64_t total, std::string_view) {
                              CHECK(done <= total);
                              last_done = done;
                              ++calls;
                            },
                            no_cancel);
  CHECK(r.nan_count == 2);
  CHECK(r.inf_count == 1);
  CHECK(r.values_scanned == count);
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].name == "t");
  CHECK(last_done == file.size());
  CHECK(calls >= 2);
}

TEST_CASE("scan: CRC regions and cancellation", "[scan]") {
  const auto data = from_string("123456789");
  scan_request request;
  request.regions.push_back({"good", 0, 9, float_kind::none, 0xCBF43926u});
  request.regions.push_back({"bad", 0, 9, float_kind::none, 0x1u});
  auto r = scan_bytes(view(data), request, {}, no_cancel);
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].name == "bad");
  CHECK(r.findings[0].crc_mismatch);

  const std::atomic<bool> cancel{true};
  r = scan_bytes(view(data), request, {}, cancel);
  CHECK(r.cancelled);
  CHECK(r.sha256.empty());
}
