#include "actors/errors.hpp"

#include "actors/device_messages.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace modeld {

caf::error make_error(errc code, std::string message) {
  return caf::error(static_cast<std::uint8_t>(code), errc_category, caf::make_message(std::move(message)));
}

std::optional<errc> errc_of(const caf::error& error) {
  if (!error || error.category() != errc_category || error.code() > static_cast<std::uint8_t>(errc::internal))
    return std::nullopt;
  return static_cast<errc>(error.code());
}

std::string message_of(const caf::error& error) {
  if (!errc_of(error) || !error.context().match_elements<std::string>())
    return {};
  return error.context().get_as<std::string>(0);
}

void add_errc_category(caf::actor_system_config& config) {
  config.add_error_category(errc_category, [](std::uint8_t code, caf::atom_value, const caf::message& context) {
    std::string text = "modeld:";
    text += to_string(static_cast<errc>(code <= static_cast<std::uint8_t>(errc::internal) ? code : 0));
    if (context.match_elements<std::string>()) {
      text += ": ";
      text += context.get_as<std::string>(0);
    }
    return text;
  });
}

} // namespace modeld

namespace modeld::actors {

failure failure_of(const caf::error& error, std::string_view what) {
  if (auto code = errc_of(error))
    return {*code, std::string{what} + " failed: " + message_of(error)};
  return {errc::internal, std::string{what} + " failed: " + caf::to_string(error)};
}

failure located_failure(const catalog::scan_error& error) {
  auto code = error.code == "MODEL_NOT_FOUND" ? errc::model_not_found : errc::path_not_allowed;
  return failure{code, error.message}.about("path", error.path);
}

} // namespace modeld::actors
