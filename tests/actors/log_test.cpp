#include "actors/log.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace modeld;

TEST_CASE("text lines quote only what needs quotes", "[log]") {
  auto line = log::render(log::format::text, "restart",
                          {{"component", "cpu:0"}, {"reason", "injected crash"}, {"backoff_ms", 100}, {"ok", true}});
  CHECK(line == R"(restart component=cpu:0 reason="injected crash" backoff_ms=100 ok=true)");
  CHECK(log::render(log::format::text, "x", {{"empty", ""}, {"quote", "a\"b"}, {"eq", "a=b"}}) ==
        R"(x empty="" quote="a\"b" eq="a=b")");
}

TEST_CASE("JSON bodies are members of one valid object, whatever the values hold", "[log]") {
  auto body = log::render(log::format::json, "request_failed",
                          {{"request_id", "r\n1"}, {"message", "bad \"x\" \\ \x01"}, {"ms", 1.5}, {"count", -3}});
  auto object = boost::json::parse("{" + body + "}").as_object();
  CHECK(object.at("event") == "request_failed");
  CHECK(object.at("request_id") == "r\n1");
  CHECK(object.at("message") == "bad \"x\" \\ \x01");
  CHECK(object.at("ms").as_double() == 1.5);
  CHECK(object.at("count") == -3);
}

TEST_CASE("levels and formats are parsed by name", "[log]") {
  CHECK(log::parse_level("warn") == log::level::warning);
  CHECK(log::parse_level("warning") == log::level::warning);
  CHECK_FALSE(log::parse_level("loud"));
  CHECK(log::parse_format("json") == log::format::json);
  CHECK_FALSE(log::parse_format("xml"));
  log::configure(log::level::warning, log::format::text);
  CHECK_FALSE(log::enabled(log::level::info));
  CHECK(log::enabled(log::level::error));
  log::configure(log::level::info, log::format::text);
}
