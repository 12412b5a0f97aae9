// The TCP front end: accepts connections up to the limit (beyond it, one OVERLOADED line
// and close), runs a session per connection, and drains on shutdown.
#pragma once

#include "protocol/commands.hpp"
#include "protocol/limits.hpp"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace modeld::protocol {

class session;

class server {
public:
  // Binds and listens; throws asio::system_error when the address is unusable.
  server(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint, service_context& context,
         server_limits limits);

  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  // Starts accepting (on the io_context's threads).
  void start();
  // Closes the acceptor and drains every session: in-flight requests are answered.
  void drain();
  // After the drain grace: answers every request still in flight with an error.
  void abort_in_flight();
  std::size_t live_connections() const { return live_; }

private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> reject_overloaded(asio::ip::tcp::socket socket);

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::ip::tcp::acceptor acceptor_;
  service_context& context_;
  server_limits limits_;
  std::atomic<std::size_t> live_{0};
  std::uint64_t accepted_ = 0;
  std::mutex sessions_mutex_;
  std::vector<std::weak_ptr<session>> sessions_;
};

} // namespace modeld::protocol
