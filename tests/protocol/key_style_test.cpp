#include "protocol/key_style.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

using namespace modeld::protocol;
namespace json = boost::json;

TEST_CASE("every spelling of a field becomes snake_case", "[keys]") {
  CHECK(to_snake_case("model_id") == "model_id");
  CHECK(to_snake_case("modelId") == "model_id");
  CHECK(to_snake_case("ModelId") == "model_id");
  CHECK(to_snake_case("MODEL_ID") == "model_id");
  CHECK(to_snake_case("model-id") == "model_id");
  CHECK(to_snake_case("ModelID") == "model_id");
  CHECK(to_snake_case("RequestId") == "request_id");
  CHECK(to_snake_case("timeoutMs") == "timeout_ms");
  CHECK(to_snake_case("HTTPServer") == "http_server");
  CHECK(to_snake_case("fp16Weights") == "fp16_weights");
}

TEST_CASE("snake keys turn into camel and Pascal", "[keys]") {
  CHECK(from_snake_case("processing_time_ms", key_case::camel) == "processingTimeMs");
  CHECK(from_snake_case("processing_time_ms", key_case::pascal) == "ProcessingTimeMs");
  CHECK(from_snake_case("success", key_case::pascal) == "Success");
  CHECK(from_snake_case("model_id", key_case::snake) == "model_id");
}

TEST_CASE("normalization reaches nested schema objects but not free-form maps", "[keys]") {
  auto value = json::parse(R"({"ModelId":"a","Metadata":{"Name":"n","Custom":{"KeepMe":1,"x_y":null}},
                               "Items":[{"InnerKey":null,"Other":2}]})");
  REQUIRE_FALSE(normalize_fields(value));
  auto expected = json::parse(R"({"model_id":"a","metadata":{"name":"n","custom":{"KeepMe":1,"x_y":null}},
                                  "items":[{"other":2}]})");
  CHECK(value == expected);
}

TEST_CASE("two spellings of one field clash", "[keys]") {
  auto value = json::parse(R"({"modelId":"a","model_id":"b"})");
  auto clash = normalize_fields(value);
  REQUIRE(clash);
  CHECK(*clash == "model_id");
}

TEST_CASE("response keys switch case except in free-form maps", "[keys]") {
  auto value = json::parse(R"({"request_id":"r","data":{"model_id":"m","embedded":{"ss_network_dim":"4"}}})");
  apply_key_case(value, key_case::camel);
  CHECK(value == json::parse(R"({"requestId":"r","data":{"modelId":"m","embedded":{"ss_network_dim":"4"}}})"));
}

TEST_CASE("response_case names are parsed in any style", "[keys]") {
  CHECK(parse_key_case("camel") == key_case::camel);
  CHECK(parse_key_case("Pascal") == key_case::pascal);
  CHECK(parse_key_case("snake_case") == key_case::snake);
  CHECK_FALSE(parse_key_case("kebab"));
}
