#include "catalog/report_json.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <span>

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

TEST_CASE("a catalog entry keeps the validity of its inspection and the first error as reason", "[report_json]") {
  // A safetensors file whose header is no JSON, inspected at the basic level as a scan does.
  std::string header = "{\"w\": not json at all}";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  bytes += header;
  auto report = formats::inspect_bytes(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                                       "broken.safetensors", {formats::validation_level::basic, {}, nullptr});
  REQUIRE_FALSE(report.is_valid());
  catalog::catalog_entry entry;
  catalog::fill_catalog_entry(entry, report);
  CHECK_FALSE(entry.is_valid);
  CHECK(entry.format == "safetensors");
  REQUIRE_FALSE(entry.invalid_reason.empty());
  const auto first_error =
    std::find_if(report.issues.begin(), report.issues.end(), [](auto& i) { return i.level == formats::severity::error; });
  REQUIRE(first_error != report.issues.end());
  CHECK(entry.invalid_reason == first_error->code + ": " + first_error->message);

  // validity_of reads the same from the validation answer.
  auto [is_valid, reason] = catalog::validity_of(catalog::validation_json(report, formats::validation_level::basic));
  CHECK_FALSE(is_valid);
  CHECK(reason == entry.invalid_reason);

  formats::model_report fine;
  fine.issues.push_back({"EXTENSION_MISMATCH", formats::severity::warning, "a warning is no error", {}});
  catalog::fill_catalog_entry(entry, fine);
  CHECK(entry.is_valid);
  CHECK(entry.invalid_reason.empty());
  CHECK(catalog::validity_of(json::parse(R"({"is_valid":true,"issues":[]})").as_object()) ==
        std::pair<bool, std::string>{true, ""});
  CHECK(catalog::validity_of(json::parse(R"({"is_valid":false})").as_object()).first == false);
}

TEST_CASE("a catalog entry's components keep the identities a load computed", "[report_json]") {
  const std::string components =
    R"([{"name":"unet","bytes":4},{"name":"vae","bytes":2},{"name":"text_encoder","bytes":1},{"bytes":9}])";
  CHECK(catalog::component_identities(components).empty());

  auto kept = catalog::with_component_identities(components, {{"vae", "aa"}, {"text_encoder", "bb"}, {"lora", "cc"}});
  auto identities = catalog::component_identities(kept);
  CHECK(identities == std::vector<formats::component_identity>{{"vae", "aa"}, {"text_encoder", "bb"}});
  // The other fields stay as they were; a component without identity gets none.
  auto parsed = json::parse(kept).as_array();
  CHECK(parsed.at(0).as_object().if_contains("identity") == nullptr);
  CHECK(parsed.at(1).at("bytes") == 2);
  CHECK(parsed.size() == 4);

  // A new identity replaces the old one.
  CHECK(catalog::component_identities(catalog::with_component_identities(kept, {{"vae", "dd"}})).at(0).identity == "dd");
  // Text that is no array is kept as it is, and has no identities.
  CHECK(catalog::with_component_identities("{oops", {{"vae", "aa"}}) == "{oops");
  CHECK(catalog::component_identities("{oops").empty());
}
