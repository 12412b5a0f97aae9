// A blocking NDJSON client for integration tests; every read and write has a deadline, so
// a broken server fails a test instead of hanging it.
#pragma once

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modeld::test {

class line_client {
public:
  explicit line_client(std::uint16_t port);
  ~line_client();
  line_client(const line_client&) = delete;
  line_client& operator=(const line_client&) = delete;

  void send_raw(std::string_view bytes);
  void send(const boost::json::value& request); // serialized plus '\n'

  // The next response line, or nullopt at EOF or when the deadline passes.
  std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10));
  // The next response parsed; fails the test on EOF or timeout.
  boost::json::value read_json(std::chrono::milliseconds limit = std::chrono::seconds(10));
  // Sends one request and reads one response.
  boost::json::value call(const boost::json::value& request);
  // True when the server closed the connection within `limit`.
  bool closed_by_server(std::chrono::milliseconds limit = std::chrono::seconds(10));

private:
  int fd_ = -1;
  std::string buffer_;
};

} // namespace modeld::test
