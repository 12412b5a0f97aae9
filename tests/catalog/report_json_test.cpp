#include "catalog/report_json.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace modeld;
namespace json = boost::json;

TEST_CASE("structure facts keep their JSON types", "[report_json]") {
  formats::model_report report;
  report.structure = {{"header_length", "1024"}, {"tensor_count", "3"},  {"legacy", "false"},
                      {"version", "3"},          {"byteorder", "little"}, {"producer_version", "2.1"},
                      {"ir_version", "08"},      {"kv_count", "-1"}};
  auto structure = catalog::validation_json(report, formats::validation_level::basic)
                     .at("validation_details")
                     .at("structure")
                     .as_object();
  CHECK(structure.at("header_length") == 1024u);
  CHECK(structure.at("header_length").is_uint64());
  CHECK(structure.at("tensor_count") == 3u);
  CHECK(structure.at("legacy") == false);
  CHECK(structure.at("version") == 3u);
  // Text facts stay text, and a number fact that is not a plain whole number keeps its text.
  CHECK(structure.at("byteorder") == "little");
  CHECK(structure.at("producer_version") == "2.1");
  CHECK(structure.at("ir_version") == "08");
  CHECK(structure.at("kv_count") == "-1");
}

TEST_CASE("a validation result stored with text facts is answered typed", "[report_json]") {
  auto stored = json::parse(R"({"is_valid":true,"validation_details":{"structure":)"
                            R"({"header_length":"88","legacy":"true","graph_name":"7"}}})")
                  .as_object();
  catalog::type_structure_values(stored);
  auto& structure = stored.at("validation_details").at("structure");
  CHECK(structure.at("header_length") == 88u);
  CHECK(structure.at("legacy") == true);
  CHECK(structure.at("graph_name") == "7");
  auto without = json::parse(R"({"is_valid":false})").as_object();
  catalog::type_structure_values(without); // nothing to type: left alone
  CHECK(without == json::parse(R"({"is_valid":false})").as_object());
}
