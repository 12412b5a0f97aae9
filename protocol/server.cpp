#include "protocol/server.hpp"

#include "protocol/envelope.hpp"
#include "protocol/session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace modeld::protocol {
using asio::experimental::as_tuple;

server::server(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint, service_context& context,
               server_limits limits)
  : io_(io), strand_(asio::make_strand(io)), acceptor_(strand_), context_(context), limits_(limits) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void server::start() { asio::co_spawn(strand_, accept_loop(), asio::detached); }

void server::drain() {
  asio::post(strand_, [this] {
    asio::error_code ignored;
    acceptor_.close(ignored);
  });
  std::lock_guard lock{sessions_mutex_};
  for (auto& weak : sessions_)
    if (auto s = weak.lock())
      asio::post(s->executor(), [s] { s->drain(); });
}

void server::abort_in_flight() {
  std::lock_guard lock{sessions_mutex_};
  for (auto& weak : sessions_)
    if (auto s = weak.lock())
      asio::post(s->executor(), [s] { s->abort_in_flight(); });
}

asio::awaitable<void> server::accept_loop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open())
      break;
    if (ec) {
      // Out of descriptors or a connection reset before accept: wait briefly, go on.
      asio::steady_timer pause(strand_, std::chrono::milliseconds(50));
      co_await pause.async_wait(as_tuple(asio::use_awaitable));
      continue;
    }
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    if (live_ >= limits_.max_connections) {
      auto executor = socket.get_executor();
      asio::co_spawn(executor, reject_overloaded(std::move(socket)), asio::detached);
      continue;
    }
    ++live_;
    auto s = std::make_shared<session>(std::move(socket), context_, limits_, ++accepted_, [this] { --live_; });
    {
      std::lock_guard lock{sessions_mutex_};
      std::erase_if(sessions_, [](auto& weak) { return weak.expired(); });
      sessions_.push_back(s);
    }
    asio::co_spawn(s->executor(), [s] { return s->run(); }, asio::detached);
  }
}

asio::awaitable<void> server::reject_overloaded(asio::ip::tcp::socket socket) {
  protocol_error error{error_code::overloaded,
                       "connection limit of " + std::to_string(limits_.max_connections) + " reached"};
  error.details["max_connections"] = limits_.max_connections;
  auto line = error_line(nullptr, error, 0, key_case::snake);
  co_await asio::async_write(socket, asio::buffer(line), as_tuple(asio::use_awaitable));
  asio::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

} // namespace modeld::protocol
