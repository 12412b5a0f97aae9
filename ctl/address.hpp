// Where modelctl finds modeld: --host and --port, else MODELD_ADDR=host:port, else the
// address modeld listens on by default (PROTOCOL.md: 127.0.0.1:7311).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace modeld::ctl {

struct address {
  std::string host;
  std::uint16_t port = 0;
};

inline constexpr std::string_view default_host = "127.0.0.1";
inline constexpr std::uint16_t default_port = 7311;

// "host:port", "[::1]:port"; nullopt for anything else (no port, a port out of range).
std::optional<address> parse_address(std::string_view text);

// The address to use: each flag given wins over MODELD_ADDR's part (`environment` is its value,
// null when unset), which wins over the default. An error message when MODELD_ADDR is needed
// and malformed.
std::variant<address, std::string> choose_address(const std::optional<std::string>& host_flag,
                                                  const std::optional<std::uint16_t>& port_flag,
                                                  const char* environment);

// "127.0.0.1:7311", "[::1]:7311": for messages.
std::string to_string(const address& where);

} // namespace modeld::ctl
