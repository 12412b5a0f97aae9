// The metrics endpoint: a small HTTP/1.1 server (Boost.Beast) answering GET /metrics, on a
// thread and io_context of its own.
//
// Why its own thread: Beast is written against Boost.Asio (`boost::asio`), while the front end
// runs on standalone Asio (`asio::`); the two have distinct io_context types, so Beast's
// streams cannot run on the front end's io_context. A single thread is plenty for scrapes, and
// it keeps the scrape path off the front end's threads (and the front end off this one).
// Only this file's implementation includes Boost.Asio, so no other translation unit mixes the
// two.
//
// Limits against abuse: a request (line, headers and body) larger than `max_request_bytes` is
// refused by closing the connection; every read and write has `timeout` (an idle keep-alive
// connection closes after it); at most `max_connections` connections are served at once, and
// one more is closed as soon as it is accepted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace modeld::metrics {

struct listener_state; // the Boost.Asio side, in http_listener.cpp only

struct http_limits {
  std::size_t max_request_bytes = 8192;
  std::chrono::milliseconds timeout{5000};
  std::size_t max_connections = 8;
};

class http_listener {
public:
  using page_function = std::function<std::string()>;

  // Binds `host`:`port` (port 0 picks a free one) and starts serving; throws std::exception
  // (with the reason) when the address is not an IP address or cannot be bound. `page` is
  // called on the listener's thread for every GET /metrics: it must only read published state.
  http_listener(const std::string& host, std::uint16_t port, page_function page, http_limits limits = {});
  // Stops accepting, closes every connection and joins the thread.
  ~http_listener();
  http_listener(const http_listener&) = delete;
  http_listener& operator=(const http_listener&) = delete;

  std::string address() const;
  std::uint16_t port() const;

private:
  std::unique_ptr<listener_state> state_;
};

} // namespace modeld::metrics
