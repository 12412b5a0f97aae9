#include "runtime/flag_values.hpp"

#include <charconv>
#include <fstream>

namespace modeld::runtime {

std::variant<listen_address, std::string> parse_listen(std::string_view flag, const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size())
    return std::string{flag} + " '" + text + "' must be HOST:PORT";
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
    return std::string{flag} + " port '" + port_text + "' must be a number from 0 to 65535";
  return listen_address{host == "localhost" ? "127.0.0.1" : host, static_cast<std::uint16_t>(port)};
}

std::optional<std::string> read_secret_line(std::string_view flag, const std::string& path, std::string& secret) {
  std::ifstream file(path);
  if (!file)
    return std::string{flag} + " '" + path + "' cannot be read";
  std::getline(file, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' ' || secret.back() == '\t'))
    secret.pop_back();
  if (secret.empty())
    return std::string{flag} + " '" + path + "' holds nothing on its first line";
  return std::nullopt;
}

bool is_loopback(const std::string& host) { return host == "::1" || host.rfind("127.", 0) == 0; }

} // namespace modeld::runtime
