#include "protocol/json_writer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <limits>
#include <string>

using modeld::protocol::to_json;
namespace json = boost::json;

TEST_CASE("doubles are written in plain shortest notation", "[json]") {
  CHECK(to_json(2.18) == "2.18");
  CHECK(to_json(0.001) == "0.001");
  CHECK(to_json(1.0) == "1");
  CHECK(to_json(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(to_json(std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("everything else reads back as it was", "[json]") {
  auto value = json::parse(R"({"a":[1,-2,18446744073709551615,true,null,"q\"uo\\te\n\u0001é"],"b":{"c":{}},"d":[]})");
  CHECK(json::parse(to_json(value)) == value);
  CHECK(to_json(json::parse(R"({"k":"v","n":[1,2]})")) == R"({"k":"v","n":[1,2]})");
}

TEST_CASE("strings are escaped exactly as Boost.JSON escapes them", "[json]") {
  std::string every_byte;
  for (int c = 0; c < 256; ++c)
    every_byte.push_back(static_cast<char>(c));
  for (auto& text : {every_byte, std::string{"plain"}, std::string{}, std::string{"\"\\\"\\"}, std::string{"a\tb\u00e9\x7f"}})
    CHECK(to_json(json::value(json::string(text))) == json::serialize(json::value(json::string(text))));
}
