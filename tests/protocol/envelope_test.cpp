#include "protocol/envelope.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

using namespace modeld::protocol;
namespace json = boost::json;

namespace {

request accepted(std::string_view line) {
  auto parsed = parse_request(line);
  if (auto* rejected = std::get_if<rejected_request>(&parsed))
    FAIL("rejected: " << rejected->error.message);
  return std::get<request>(parsed);
}

rejected_request rejected(std::string_view line) {
  auto parsed = parse_request(line);
  REQUIRE(std::holds_alternative<rejected_request>(parsed));
  return std::get<rejected_request>(parsed);
}

std::string field_of(const rejected_request& r) {
  auto* field = r.error.details.if_contains("field");
  return field && field->is_string() ? std::string{field->get_string()} : std::string{};
}

} // namespace

TEST_CASE("a plain request is read", "[envelope]") {
  auto req = accepted(R"({"request_id":"r-17","worker_type":"model","command":"post_model_load",
                          "data":{"model_id":"sdxl","device_id":"cuda:0"}})");
  CHECK(req.request_id == "r-17");
  CHECK(req.domain == "model");
  CHECK(req.command == "post_model_load");
  CHECK(req.data.at("model_id") == "sdxl");
  CHECK_FALSE(req.stream);
  CHECK_FALSE(req.timeout);
}

TEST_CASE("worker_type defaults to model", "[envelope]") {
  CHECK(accepted(R"({"command":"ping"})").domain == "model");
}

TEST_CASE("action and domain are aliases", "[envelope]") {
  auto req = accepted(R"({"action":"get_device_list","domain":"device"})");
  CHECK(req.command == "get_device_list");
  CHECK(req.domain == "device");
}

TEST_CASE("conflicting aliases are rejected", "[envelope]") {
  auto r = rejected(R"({"command":"ping","action":"hello"})");
  CHECK(r.error.code == error_code::invalid_request);
  CHECK(field_of(r) == "command");
  CHECK(field_of(rejected(R"({"command":"ping","worker_type":"model","domain":"device"})")) == "worker_type");
}

TEST_CASE("a domain prefix on the command is stripped and sets the domain", "[envelope]") {
  auto req = accepted(R"({"command":"model.post_model_load"})");
  CHECK(req.command == "post_model_load");
  CHECK(req.domain == "model");
  CHECK(accepted(R"({"command":"device.get_device_list"})").domain == "device");
  CHECK(field_of(rejected(R"({"command":"bogus.ping"})")) == "command");
}

TEST_CASE("envelope and data keys are matched in any style", "[envelope]") {
  auto req = accepted(R"({"RequestId":"x","WorkerType":"model","Command":"GetModel","Data":{"ModelId":"m"}})");
  CHECK(req.request_id == "x");
  CHECK(req.command == "get_model");
  CHECK(req.data.at("model_id") == "m");
  auto camel = accepted(R"({"requestId":"y","command":"get_model","data":{"modelId":"m"},"timeoutMs":50})");
  CHECK(camel.data.at("model_id") == "m");
  REQUIRE(camel.timeout);
  CHECK(camel.timeout->count() == 50);
}

TEST_CASE("flat fields join data and data wins on a clash", "[envelope]") {
  auto req = accepted(R"({"command":"get_model","model_id":"flat","device_id":"cpu:0","data":{"model_id":"inner"}})");
  CHECK(req.data.at("model_id") == "inner");
  CHECK(req.data.at("device_id") == "cpu:0");
}

TEST_CASE("null means absent, for the envelope and for fields", "[envelope]") {
  auto req = accepted(R"({"request_id":null,"command":"get_models","data":{"type":null,"limit":5},"timeout_ms":null,
                          "stream":null})");
  CHECK(req.request_id.is_null());
  CHECK_FALSE(req.data.contains("type"));
  CHECK(req.data.at("limit") == 5);
  CHECK_FALSE(req.timeout);
  CHECK(accepted(R"({"command":"ping","data":null})").data.empty());
}

TEST_CASE("integer request ids are kept as integers", "[envelope]") {
  CHECK(accepted(R"({"request_id":42,"command":"ping"})").request_id == 42);
}

TEST_CASE("stream and timeout_ms are read and checked", "[envelope]") {
  auto req = accepted(R"({"command":"post_model_validate","stream":true,"timeout_ms":1500.2})");
  CHECK(req.stream);
  CHECK(req.timeout->count() == 1501);
  CHECK(field_of(rejected(R"({"command":"ping","stream":"yes"})")) == "stream");
  CHECK(field_of(rejected(R"({"command":"ping","timeout_ms":0})")) == "timeout_ms");
  CHECK(field_of(rejected(R"({"command":"ping","timeout_ms":-5})")) == "timeout_ms");
  CHECK(field_of(rejected(R"({"command":"ping","timeout_ms":"5"})")) == "timeout_ms");
}

TEST_CASE("envelope errors carry their codes", "[envelope]") {
  CHECK(rejected("{not json").error.code == error_code::invalid_json);
  CHECK(rejected("[1,2]").error.code == error_code::invalid_request);
  CHECK(rejected("\"ping\"").error.code == error_code::invalid_request);
  CHECK(field_of(rejected(R"({"data":{}})")) == "command");
  CHECK(field_of(rejected(R"({"command":""})")) == "command");
  CHECK(field_of(rejected(R"({"command":7})")) == "command");
  CHECK(field_of(rejected(R"({"command":"ping","worker_type":"inference"})")) == "worker_type");
  CHECK(field_of(rejected(R"({"command":"ping","data":[1]})")) == "data");
  CHECK(field_of(rejected(R"({"command":"ping","request_id":{"a":1}})")) == "request_id");
  CHECK(field_of(rejected(R"({"command":"ping","data":{"modelId":1,"model_id":2}})")) == "model_id");
}

TEST_CASE("a rejected request keeps its id when it has a usable one", "[envelope]") {
  auto r = rejected(R"({"request_id":"r1","command":"ping","stream":3})");
  CHECK(r.request_id == "r1");
}

TEST_CASE("deeply nested input is rejected, not recursed into", "[envelope]") {
  std::string deep(5000, '[');
  CHECK(rejected(deep).error.code == error_code::invalid_json);
}

TEST_CASE("response lines have the envelope of PROTOCOL.md", "[envelope]") {
  auto ok = json::parse(success_line("r-1", json::object{{"model_id", "m"}}, 3.14159, key_case::snake));
  CHECK(ok.at("request_id") == "r-1");
  CHECK(ok.at("success") == true);
  CHECK(ok.at("data").at("model_id") == "m");
  CHECK(ok.at("processing_time_ms").as_double() == Approx(3.142));

  protocol_error error{error_code::model_not_found, "model 'x' is not in the catalog"};
  auto failed = json::parse(error_line(nullptr, error, 0.1, key_case::pascal));
  CHECK(failed.at("RequestId").is_null());
  CHECK(failed.at("Success") == false);
  CHECK(failed.at("Error").at("Code") == "MODEL_NOT_FOUND");
  CHECK(failed.at("Error").at("Message") == "model 'x' is not in the catalog");
}

TEST_CASE("a framed line around shared data reads as the same response line", "[envelope]") {
  // The data comes serialized in the connection's key style already, as a snapshot keeps it.
  const std::string data = R"({"devices":[{"device_id":"cpu:0"}]})";
  auto frame = success_frame(json::value(17), 2.5, key_case::snake);
  CHECK(frame.tail.back() == '\n');
  CHECK(frame.head + data + frame.tail == success_line(json::value(17), json::parse(data), 2.5, key_case::snake));
  const std::string pascal_data = R"({"Devices":[{"DeviceId":"cpu:0"}]})";
  auto pascal = success_frame("r", 0.5, key_case::pascal);
  CHECK(pascal.head + pascal_data + pascal.tail == success_line("r", json::parse(data), 0.5, key_case::pascal));
}

TEST_CASE("every error code has its wire name", "[envelope]") {
  CHECK(to_string(error_code::invalid_json) == "INVALID_JSON");
  CHECK(to_string(error_code::frame_too_large) == "FRAME_TOO_LARGE");
  CHECK(to_string(error_code::fault_injection_disabled) == "FAULT_INJECTION_DISABLED");
  CHECK(to_string(error_code::device_unavailable) == "DEVICE_UNAVAILABLE");
  CHECK(to_string(error_code::internal) == "INTERNAL");
}
