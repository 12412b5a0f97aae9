// modeld: parses flags, enumerates devices, starts the actors and the TCP front end, and
// drains on SIGTERM/SIGINT (no new requests, in-flight ones answered, actors stopped in
// order, exit 0). Start-up failures are one line on stderr and exit code 2.
#include "catalog/model_store.hpp"
#include "gpu/devices.hpp"
#include "protocol/server.hpp"
#include "runtime/actor_runtime.hpp"
#include "runtime/options.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

namespace {

using namespace modeld;
using asio::experimental::as_tuple;

int fail(const std::string& line) {
  std::cerr << line << std::endl;
  return 2;
}

// After a signal: drain the server, then wait until every connection is gone or the grace
// period ends, whichever comes first.
asio::awaitable<void> drain_on_signal(asio::signal_set& signals, protocol::server& server,
                                      std::chrono::milliseconds grace, asio::io_context& io) {
  auto [ec, signal_number] = co_await signals.async_wait(as_tuple(asio::use_awaitable));
  if (ec)
    co_return;
  std::cerr << "modeld: signal " << signal_number << ", draining" << std::endl;
  server.drain();
  auto deadline = std::chrono::steady_clock::now() + grace;
  asio::steady_timer poll(io);
  while (server.live_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(10));
    co_await poll.async_wait(as_tuple(asio::use_awaitable));
  }
  io.stop();
}

} // namespace

int main(int argc, char** argv) {
  auto parsed = runtime::parse_options(argc, argv);
  if (auto* exit = std::get_if<runtime::early_exit>(&parsed)) {
    if (exit->code == 0) {
      std::cout << exit->text;
      return 0;
    }
    return fail(exit->text);
  }
  auto& options = std::get<runtime::options>(parsed);

  auto devices = gpu::enumerate_devices(options.devices);
  if (auto* error = std::get_if<std::string>(&devices))
    return fail("modeld: --devices: " + *error);

  asio::io_context io{static_cast<int>(options.io_threads)};
  asio::error_code ec;
  auto address = asio::ip::make_address(options.listen_host, ec);
  if (ec)
    return fail("modeld: --listen host '" + options.listen_host + "' is not an IP address");

  auto opened = catalog::model_store::open(std::filesystem::path(options.data_dir) / "modeld.sqlite3");
  if (auto* error = std::get_if<std::string>(&opened))
    return fail("modeld: --data-dir: " + *error);
  runtime::runtime_settings settings{std::get<std::vector<gpu::device_description>>(devices),
                                     options.model_roots,
                                     std::move(std::get<std::unique_ptr<catalog::model_store>>(opened)),
                                     options.actor_threads,
                                     std::max(1u, std::thread::hardware_concurrency()),
                                     options.cache_size_bytes,
                                     std::chrono::milliseconds(options.status_deadline_ms)};
  std::optional<runtime::actor_runtime> actors;
  try {
    actors.emplace(std::move(settings));
    auto scan = actors->initial_scan();
    std::cerr << "modeld: catalog: " << scan.added << " added, " << scan.updated << " updated, " << scan.removed
              << " removed, " << scan.unchanged << " unchanged, " << scan.errors.size() << " not taken" << std::endl;
  } catch (const std::exception& e) {
    return fail(std::string{"modeld: "} + e.what());
  }
  protocol::service_context context{actors->bridge(),  actors->registry(), actors->aggregator(),
                                    actors->services(), actors->scanner(), actors->cache_board(),
                                    options.model_roots, options.auth_token, options.fault_injection};
  std::unique_ptr<protocol::server> server;
  try {
    server = std::make_unique<protocol::server>(io, asio::ip::tcp::endpoint{address, options.listen_port}, context,
                                                options.limits);
  } catch (const asio::system_error& e) {
    return fail("modeld: cannot listen on " + options.listen_host + ":" + std::to_string(options.listen_port) +
                ": " + e.code().message());
  }
  auto endpoint = server->local_endpoint();
  std::cout << "listening on " << endpoint.address().to_string() << ":" << endpoint.port() << std::endl;

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::co_spawn(io, drain_on_signal(signals, *server, options.limits.drain_grace, io), asio::detached);
  server->start();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.io_threads; ++i)
    threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads)
    t.join();

  bool clean = actors->stop(options.limits.drain_grace);
  std::cerr << "modeld: stopped" << (clean ? "" : " (some actors did not stop in time)") << std::endl;
  return 0;
}
