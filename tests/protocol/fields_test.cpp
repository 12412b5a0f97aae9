#include "protocol/fields.hpp"
#include "protocol/key_style.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <array>

using namespace modeld::protocol;
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 3> levels{"basic", "standard", "comprehensive"};

std::optional<std::string_view> level_of(std::string_view request_json) {
  auto result = optional_enum(json::parse(request_json).as_object(), "validation_level", levels);
  REQUIRE(std::holds_alternative<std::optional<std::string_view>>(result));
  return std::get<std::optional<std::string_view>>(result);
}

} // namespace

TEST_CASE("enum values match in any case and separator style", "[fields][enums]") {
  CHECK(same_enum_value("comprehensive", "comprehensive"));
  CHECK(same_enum_value("Comprehensive", "comprehensive"));
  CHECK(same_enum_value("BASIC", "basic"));
  CHECK(same_enum_value("Fp16", "fp16"));
  CHECK(same_enum_value("FP16", "fp16"));
  CHECK(same_enum_value("MetadataStore", "metadata_store"));
  CHECK(same_enum_value("Metadata_Store", "metadata_store"));
  CHECK(same_enum_value("METADATA-STORE", "metadata_store"));
  CHECK(same_enum_value("SafeTensors", "safetensors"));
  CHECK(same_enum_value("SdxlRefiner", "sdxl_refiner"));
  CHECK_FALSE(same_enum_value("fp1", "fp16"));
  CHECK_FALSE(same_enum_value("fp16x", "fp16"));
  CHECK_FALSE(same_enum_value("", "fp16"));
  CHECK_FALSE(same_enum_value("sdxl", "sdxl_refiner"));
}

TEST_CASE("match_enum answers the listed spelling", "[fields][enums]") {
  CHECK(match_enum("Standard", levels) == "standard");
  CHECK(match_enum("COMPREHENSIVE", levels) == "comprehensive");
  CHECK_FALSE(match_enum("paranoid", levels));
}

TEST_CASE("optional_enum reads a field: absent, any case, or INVALID_REQUEST naming it", "[fields][enums]") {
  CHECK_FALSE(level_of(R"({})"));
  CHECK(level_of(R"({"validation_level":"Comprehensive"})") == "comprehensive");
  CHECK(level_of(R"({"validation_level":"BASIC"})") == "basic");
  for (auto bad : {R"({"validation_level":"paranoid"})", R"({"validation_level":3})"}) {
    auto result = optional_enum(json::parse(bad).as_object(), "validation_level", levels);
    REQUIRE(std::holds_alternative<protocol_error>(result));
    auto& error = std::get<protocol_error>(result);
    CHECK(error.code == error_code::invalid_request);
    CHECK(error.details.at("field") == "validation_level");
  }
  auto unknown = optional_enum(json::parse(R"({"validation_level":"paranoid"})").as_object(), "validation_level", levels);
  CHECK(std::get<protocol_error>(unknown).message == "validation_level must be basic, standard or comprehensive (in any case)");
}

TEST_CASE("response_case follows the same rule", "[fields][enums]") {
  CHECK(parse_key_case("Camel") == key_case::camel);
  CHECK(parse_key_case("PASCALCASE") == key_case::pascal);
  CHECK(parse_key_case("snakecase") == key_case::snake);
  CHECK_FALSE(parse_key_case("kebab"));
}
