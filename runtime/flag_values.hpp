// Values of start flags that several flags share: addresses and secrets read from files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace modeld::runtime {

// A HOST:PORT flag's value.
struct listen_address {
  std::string host;
  std::uint16_t port = 0;
};

// HOST:PORT of `flag` ("localhost" is 127.0.0.1, [v6] brackets dropped; port 0: pick one); the
// reason when it is not.
std::variant<listen_address, std::string> parse_listen(std::string_view flag, const std::string& text);

// True for 127.0.0.0/8 and ::1.
bool is_loopback(const std::string& host);

// The first line of the file at `path`, without trailing blanks, into `secret`; the reason
// (naming `flag`) when it cannot be read or the line is empty.
std::optional<std::string> read_secret_line(std::string_view flag, const std::string& path, std::string& secret);

} // namespace modeld::runtime
