#include "ctl/address.hpp"

#include <charconv>

namespace modeld::ctl {

std::optional<address> parse_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    return std::nullopt;
  auto host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::nullopt; // a bare IPv6 address is ambiguous: it must be written [::1]:port
  }
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return std::nullopt;
  return address{std::string{host}, static_cast<std::uint16_t>(port)};
}

std::variant<address, std::string> choose_address(const std::optional<std::string>& host_flag,
                                                  const std::optional<std::uint16_t>& port_flag,
                                                  const char* environment) {
  address chosen{std::string{default_host}, default_port};
  // MODELD_ADDR only matters for the parts the flags leave open, so a malformed one is an
  // error only then.
  if (environment != nullptr && *environment != '\0' && !(host_flag && port_flag)) {
    auto from_environment = parse_address(environment);
    if (!from_environment)
      return "MODELD_ADDR '" + std::string{environment} + "' is not HOST:PORT (e.g. 127.0.0.1:7311)";
    chosen = *from_environment;
  }
  if (host_flag)
    chosen.host = *host_flag;
  if (port_flag)
    chosen.port = *port_flag;
  return chosen;
}

std::string to_string(const address& where) {
  bool v6 = where.host.find(':') != std::string::npos;
  return (v6 ? "[" + where.host + "]" : where.host) + ":" + std::to_string(where.port);
}

} // namespace modeld::ctl
