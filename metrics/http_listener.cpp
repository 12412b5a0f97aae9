#include "metrics/http_listener.hpp"

#include "metrics/http_answer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <stdexcept>
#include <string_view>
#include <thread>

namespace modeld::metrics {
namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// Members in this order so that the io_context, destroyed after the acceptor, still finds the
// connection count alive when it destroys the coroutines of open connections.
struct listener_state {
  http_listener::page_function page;
  http_limits limits;
  std::size_t open = 0; // connections being served; touched on the listener's thread only
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  tcp::endpoint bound;
  std::thread thread;
};

namespace {

// One connection: requests answered in turn (keep-alive), each read and write within the
// timeout, each request within the size limit; any failure closes the connection.
net::awaitable<void> serve(listener_state& s, tcp::socket socket) {
  struct counted {
    std::size_t& open;
    ~counted() { --open; }
  } slot{s.open};
  boost::beast::tcp_stream stream(std::move(socket));
  boost::beast::flat_buffer buffer(s.limits.max_request_bytes);
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(s.limits.max_request_bytes));
    parser.body_limit(s.limits.max_request_bytes);
    stream.expires_after(s.limits.timeout);
    auto [read_error, read] = co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
    if (read_error)
      break;
    auto& request = parser.get();
    auto answer = answer_request(std::string_view{request.method_string().data(), request.method_string().size()},
                                 std::string_view{request.target().data(), request.target().size()}, s.page);
    http::response<http::string_body> response{static_cast<http::status>(answer.status), request.version()};
    response.set(http::field::content_type, answer.content_type);
    if (!answer.allow.empty())
      response.set(http::field::allow, answer.allow);
    response.keep_alive(request.keep_alive());
    response.body() = std::move(answer.body);
    response.prepare_payload();
    stream.expires_after(s.limits.timeout);
    auto [write_error, written] = co_await http::async_write(stream, response, net::as_tuple(net::use_awaitable));
    if (write_error || !response.keep_alive())
      break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> accept_loop(listener_state& s) {
  while (s.acceptor.is_open()) {
    auto [error, socket] = co_await s.acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (error == net::error::operation_aborted)
      co_return;
    if (error) { // out of descriptors, or a connection reset before accept: wait briefly, go on
      net::steady_timer pause(s.io, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    boost::system::error_code ignored;
    if (s.open >= s.limits.max_connections) { // at the cap: refusing costs nothing but the accept
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ignored);
    ++s.open;
    net::co_spawn(s.io, serve(s, std::move(socket)), net::detached);
  }
}

} // namespace

http_listener::http_listener(const std::string& host, std::uint16_t port, page_function page, http_limits limits)
  : state_(std::make_unique<listener_state>()) {
  state_->page = std::move(page);
  state_->limits = limits;
  boost::system::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("'" + host + "' is not an IP address");
  tcp::endpoint endpoint{address, port};
  auto& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) // the plain reason ("Address already in use"), for modeld's one start-up error line
    throw std::runtime_error(ec.message());
  state_->bound = acceptor.local_endpoint(); // read here: the acceptor belongs to the thread from now on
  net::co_spawn(state_->io, accept_loop(*state_), net::detached);
  state_->thread = std::thread([s = state_.get()] { s->io.run(); });
}

http_listener::~http_listener() {
  state_->io.stop();
  state_->thread.join();
}

std::string http_listener::address() const { return state_->bound.address().to_string(); }

std::uint16_t http_listener::port() const { return state_->bound.port(); }

} // namespace modeld::metrics
