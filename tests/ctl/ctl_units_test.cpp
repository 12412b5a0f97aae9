// modelctl's pure parts: the address rules, tables, the progress line and value rendering.
#include "ctl/address.hpp"
#include "ctl/human.hpp"
#include "ctl/progress.hpp"
#include "ctl/table.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <sstream>

using namespace modeld::ctl;
namespace json = boost::json;

TEST_CASE("addresses: HOST:PORT, [v6]:PORT, flags over MODELD_ADDR over the default", "[ctl][units]") {
  auto parsed = parse_address("10.0.0.5:7400");
  REQUIRE(parsed);
  CHECK(parsed->host == "10.0.0.5");
  CHECK(parsed->port == 7400);
  auto v6 = parse_address("[::1]:7311");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(to_string(*v6) == "[::1]:7311");
  for (auto bad : {"", "host", "host:", ":7311", "host:0", "host:65536", "host:12x", "::1:7311", "[::1:7311"})
    CHECK_FALSE(parse_address(bad));

  auto by_default = std::get<address>(choose_address(std::nullopt, std::nullopt, nullptr));
  CHECK(to_string(by_default) == "127.0.0.1:7311");
  auto from_env = std::get<address>(choose_address(std::nullopt, std::nullopt, "gpu-host:7400"));
  CHECK(to_string(from_env) == "gpu-host:7400");
  auto port_wins = std::get<address>(choose_address(std::nullopt, std::uint16_t{9000}, "gpu-host:7400"));
  CHECK(to_string(port_wins) == "gpu-host:9000");
  auto host_wins = std::get<address>(choose_address(std::string{"other"}, std::nullopt, "gpu-host:7400"));
  CHECK(to_string(host_wins) == "other:7400");
  CHECK(std::holds_alternative<std::string>(choose_address(std::nullopt, std::nullopt, "nonsense")));
  // Both flags given: MODELD_ADDR is not read, so a malformed one does not matter.
  CHECK(std::holds_alternative<address>(choose_address(std::string{"h"}, std::uint16_t{1}, "nonsense")));
}

TEST_CASE("tables align columns by display width, numbers to the right, no trailing blanks", "[ctl][units]") {
  table t({"MODEL", "SIZE", "STATE"});
  t.align_right(1);
  t.add_row({"a.safetensors", "2MiB", "ready"});
  t.add_row({"ünïcode.gguf", "120.50KiB", ""});
  std::ostringstream out;
  t.print(out);
  CHECK(out.str() == "MODEL               SIZE  STATE\n"
                     "a.safetensors       2MiB  ready\n"
                     "ünïcode.gguf   120.50KiB\n");
  std::ostringstream fields;
  print_fields(fields, {{"model", "x"}, {"architecture", "sd1"}});
  CHECK(fields.str() == "model:        x\narchitecture: sd1\n");
}

TEST_CASE("the progress line shows stage, bar, percent and bytes", "[ctl][units]") {
  CHECK(progress_line({"hashing", 512u << 20, 1u << 30, 0.5}, 10) == "hashing [#####.....]  50%  512MiB/1GiB");
  CHECK(progress_line({"copying", 3, 3, 1.0}, 4) == "copying [####] 100%  3B/3B");
  CHECK(progress_line({"", 0, 0, 7.0}, 4) == "working [####] 100%"); // clamped; no byte totals to show
}

TEST_CASE("reply values render for people: sizes, counts, times, absent as '-'", "[ctl][units]") {
  auto v = json::parse(R"({"m":{"used":2359296,"odd":-1,"budget":1073741824,"none":null},"ok":true,"tags":["a","b"],
                          "ms":3.14159,"n":1066000000,"at":1764521400000,"d":0.25})");
  CHECK(bytes(v, {"m", "used"}) == "2304KiB"); // exact, as gpu/byte_size spells it
  CHECK(bytes(v, {"m", "odd"}) == "-");
  CHECK(bytes(v, {"m", "budget"}) == "1GiB");
  CHECK(bytes(v, {"m", "none"}) == "-");
  CHECK(bytes(v, {"m", "missing"}) == "-");
  CHECK(text(v, {"ok"}) == "yes");
  CHECK(text(v, {"tags"}) == "a, b");
  CHECK(text(v, {"d"}) == "0.25");
  CHECK(text(v, {"m", "none"}) == "-");
  CHECK(millis(find(v, {"ms"})) == "3.14 ms");
  CHECK(count(find(v, {"n"})) == "1.07G");
  CHECK(time_of_ms(find(v, {"at"})) == "2025-11-30T16:50:00Z");
}
