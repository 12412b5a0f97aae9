#include "actors/errors.hpp"
#include "protocol/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <catch2/catch.hpp>

using namespace modeld;

TEST_CASE("a modeld error keeps its code and message through caf::error", "[errors]") {
  auto error = make_error(errc::insufficient_memory, "cpu:0 is full");
  REQUIRE(errc_of(error) == errc::insufficient_memory);
  CHECK(message_of(error) == "cpu:0 is full");
  auto copy = error; // as a response carries it
  CHECK(errc_of(copy) == errc::insufficient_memory);

  auto other = caf::make_error(caf::sec::request_receiver_down);
  CHECK_FALSE(errc_of(other));
  CHECK(message_of(other).empty());
  CHECK_FALSE(errc_of(caf::error{}));
}

TEST_CASE("the actor system renders modeld errors by name", "[errors]") {
  caf::actor_system_config config;
  add_errc_category(config);
  caf::actor_system system{config};
  CHECK(system.render(make_error(errc::conflict, "a fault is already running")) ==
        "modeld:conflict: a fault is already running");
}

TEST_CASE("every error code has its wire code", "[errors]") {
  using protocol::error_code;
  CHECK(protocol::wire_code(errc::model_not_found) == error_code::model_not_found);
  CHECK(protocol::wire_code(errc::path_not_allowed) == error_code::path_not_allowed);
  CHECK(protocol::wire_code(errc::unsupported_format) == error_code::unsupported_format);
  CHECK(protocol::wire_code(errc::model_already_loaded) == error_code::model_already_loaded);
  CHECK(protocol::wire_code(errc::model_not_loaded) == error_code::model_not_loaded);
  CHECK(protocol::wire_code(errc::insufficient_memory) == error_code::insufficient_memory);
  CHECK(protocol::wire_code(errc::conflict) == error_code::conflict);
  CHECK(protocol::wire_code(errc::device_unavailable) == error_code::device_unavailable);
  CHECK(protocol::wire_code(errc::device_not_found) == error_code::device_not_found);
  CHECK(protocol::wire_code(errc::cancelled) == error_code::cancelled);
  CHECK(protocol::wire_code(errc::invalid_request) == error_code::invalid_request);
  CHECK(protocol::wire_code(errc::internal) == error_code::internal);
  for (int code = 0; code <= static_cast<int>(errc::internal); ++code)
    CHECK(to_string(static_cast<errc>(code)) != "");
}
