// Checks on response lines shared by the integration tests.
#pragma once

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <string>

namespace modeld::test {

// The error code of a failed response (fails the test when it succeeded).
inline std::string error_code_of(const boost::json::value& response) {
  INFO(boost::json::serialize(response));
  REQUIRE(response.at("success") == false);
  return std::string{response.at("error").at("code").as_string()};
}

// The data of a successful response (fails the test when it failed).
inline boost::json::value data_of(const boost::json::value& response) {
  INFO(boost::json::serialize(response));
  REQUIRE(response.at("success") == true);
  return response.at("data");
}

} // namespace modeld::test
