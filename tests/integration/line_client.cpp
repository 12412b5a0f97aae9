#include "line_client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace modeld::test {

line_client::line_client(std::uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    throw std::runtime_error("connect to 127.0.0.1 failed");
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

line_client::~line_client() {
  if (fd_ >= 0)
    close(fd_);
}

void line_client::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, 10000) <= 0)
      throw std::runtime_error("send timed out");
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0)
      throw std::runtime_error("send failed");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void line_client::send(const boost::json::value& request) { send_raw(boost::json::serialize(request) + "\n"); }

std::optional<std::string> line_client::read_line(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
      auto line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return std::nullopt;
    char chunk[65536];
    auto n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0)
      return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

boost::json::value line_client::read_json(std::chrono::milliseconds limit) {
  auto line = read_line(limit);
  if (!line)
    FAIL("no response line from modeld");
  return boost::json::parse(*line);
}

boost::json::value line_client::call(const boost::json::value& request) {
  send(request);
  return read_json();
}

bool line_client::closed_by_server(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char chunk[4096];
      auto n = recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0)
        return true;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  return false;
}

} // namespace modeld::test
