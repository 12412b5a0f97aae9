#include <catch2/catch.hpp>

#include "formats/json.hpp"

using namespace modeld::formats;

TEST_CASE("json parses nested documents in order", "[json]") {
  json_error error;
  auto v = parse_json(R"( {"b": [1, 2.5, -3, true, null], "a": {"x": "\u00e9\ud83d\ude00"}} )",
                      error);
  REQUIRE(v);
  REQUIRE(v->type == json_value::kind::object);
  REQUIRE(v->members.size() == 2);
  CHECK(v->members[0].key == "b");
  const auto& items = v->members[0].value.items;
  REQUIRE(items.size() == 5);
  CHECK(items[0].is_unsigned);
  CHECK(items[0].unsigned_value == 1);
  CHECK_FALSE(items[1].is_unsigned);
  CHECK_FALSE(items[2].is_unsigned);
  CHECK(items[3].boolean);
  CHECK(items[4].type == json_value::kind::null);
  CHECK(v->find("a")->find("x")->text == "\xC3\xA9\xF0\x9F\x98\x80");
}

TEST_CASE("json rejects what lenient parsers accept", "[json]") {
  json_error error;
  CHECK_FALSE(parse_json(R"({"a":1,"a":2})", error));
  CHECK(error.kind == json_error_kind::duplicate_key);
  CHECK_FALSE(parse_json("{\"a\":1,}", error));
  CHECK(error.kind == json_error_kind::syntax);
  CHECK_FALSE(parse_json("[01]", error));
  CHECK_FALSE(parse_json("{\"a\":1} x", error));
  CHECK_FALSE(parse_json("\"\\ud800\"", error));
  CHECK(error.kind == json_error_kind::invalid_utf8);
  CHECK_FALSE(parse_json("\"\xC0\xAF\"", error)); // overlong '/'
  CHECK(error.kind == json_error_kind::invalid_utf8);
  CHECK_FALSE(parse_json("\"a\tb\"", error)); // raw control character
  CHECK_FALSE(parse_json("18446744073709551616x", error));
}

TEST_CASE("json bounds nesting depth", "[json]") {
  json_error error;
  std::string deep(100, '[');
  deep += std::string(100, ']');
  CHECK_FALSE(parse_json(deep, error));
  CHECK(error.kind == json_error_kind::too_deep);
  std::string ok(60, '[');
  ok += std::string(60, ']');
  CHECK(parse_json(ok, error));
}

TEST_CASE("json keeps integers beyond 64 bits as non-unsigned", "[json]") {
  json_error error;
  auto v = parse_json("[18446744073709551615, 18446744073709551616]", error);
  REQUIRE(v);
  CHECK(v->items[0].is_unsigned);
  CHECK(v->items[0].unsigned_value == UINT64_MAX);
  CHECK_FALSE(v->items[1].is_unsigned);
}
