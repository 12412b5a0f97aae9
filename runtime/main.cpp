// modeld: parses flags, enumerates devices, starts the actors and the TCP front end, and
// drains on SIGTERM/SIGINT (no new requests, in-flight ones answered, actors stopped in
// order, exit 0); SIGHUP is logged and ignored. Start-up failures are one line on stderr and
// exit code 2.
#include "actors/log.hpp"
#include "catalog/model_store.hpp"
#include "gpu/devices.hpp"
#include "metrics/http_listener.hpp"
#include "protocol/metrics_page.hpp"
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

// After the drain grace, how long the answers to aborted requests get to be written.
constexpr std::chrono::milliseconds abort_flush_time{1000};
// How long each supervisor then gets to stop its actors (their workers are cancelled).
constexpr std::chrono::milliseconds actor_stop_time{2000};

int fail(const std::string& line) {
  std::cerr << line << std::endl;
  return 2;
}

// Polls until every connection is gone or `deadline` passes.
asio::awaitable<void> wait_for_connections(protocol::server& server, std::chrono::steady_clock::time_point deadline,
                                           asio::io_context& io) {
  asio::steady_timer poll(io);
  while (server.live_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    poll.expires_after(std::chrono::milliseconds(10));
    co_await poll.async_wait(as_tuple(asio::use_awaitable));
  }
}

// After a signal: drain the server and wait until every connection is gone or the grace
// period ends. At the grace, requests still in flight are answered with an error (their work
// cancelled), and their answers get a moment to be written.
asio::awaitable<void> drain_on_signal(asio::signal_set& signals, protocol::server& server,
                                      std::chrono::milliseconds grace, asio::io_context& io) {
  auto [ec, signal_number] = co_await signals.async_wait(as_tuple(asio::use_awaitable));
  if (ec)
    co_return;
  log::info("draining", {{"signal", signal_number}, {"grace_ms", grace.count()}});
  server.drain();
  co_await wait_for_connections(server, std::chrono::steady_clock::now() + grace, io);
  if (server.live_connections() > 0) {
    log::warning("drain_grace_over", {{"grace_ms", grace.count()},
                                      {"connections", server.live_connections()},
                                      {"action", "answering what is still in flight"}});
    server.abort_in_flight();
    co_await wait_for_connections(server, std::chrono::steady_clock::now() + abort_flush_time, io);
  }
  io.stop();
}

// Flags are read once, so there is nothing to reload; but SIGHUP's default action (a closed
// terminal, a service manager's `reload`) would end the service. Each one is logged instead.
asio::awaitable<void> ignore_hangups(asio::signal_set& hangups) {
  while (true) {
    auto [ec, signal_number] = co_await hangups.async_wait(as_tuple(asio::use_awaitable));
    if (ec)
      co_return;
    log::warning("sighup_ignored", {{"reason", "config reload is not supported; restart modeld to change flags"}});
  }
}

// `--devices auto` on a host without a usable CUDA device serves one CPU device; the line says
// so and why. A warning from a CUDA build (a GPU host whose driver or device is missing), news
// from a CPU-only one.
void log_automatic_devices(const std::vector<gpu::device_description>& devices) {
  if (devices.size() != 1 || devices.front().kind != gpu::device_kind::cpu)
    return;
  const auto reason = gpu::cuda_absence_reason();
  log::write(gpu::torch_has_cuda() ? log::level::warning : log::level::info, "devices_auto_fallback",
             {{"devices", devices.front().id}, {"reason", reason}, {"action", "serving one CPU device"}});
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
  log::configure(options.log_level, options.log_format);

  auto devices = gpu::enumerate_devices(options.devices);
  if (auto* error = std::get_if<std::string>(&devices))
    return fail("modeld: --devices: " + *error);
  if (options.devices.automatic)
    log_automatic_devices(std::get<std::vector<gpu::device_description>>(devices));

  asio::io_context io{static_cast<int>(options.io_threads)};
  asio::signal_set hangups(io, SIGHUP); // from here on, before the start-up scan
  asio::co_spawn(io, ignore_hangups(hangups), asio::detached);
  asio::error_code ec;
  auto address = asio::ip::make_address(options.listen_host, ec);
  if (ec)
    return fail("modeld: --listen host '" + options.listen_host + "' is not an IP address");
  if (options.metrics_listen) { // checked here too, so that a typo fails before the start-up scan
    asio::ip::make_address(options.metrics_listen->host, ec);
    if (ec)
      return fail("modeld: --metrics-listen host '" + options.metrics_listen->host + "' is not an IP address");
  }

  auto opened = catalog::model_store::open(std::filesystem::path(options.data_dir) / "modeld.sqlite3");
  if (auto* error = std::get_if<std::string>(&opened))
    return fail("modeld: --data-dir: " + *error);
  runtime::runtime_settings settings{std::get<std::vector<gpu::device_description>>(devices),
                                     options.model_roots,
                                     std::move(std::get<std::unique_ptr<catalog::model_store>>(opened)),
                                     options.actor_threads,
                                     std::max(1u, std::thread::hardware_concurrency()),
                                     options.cache_size_bytes,
                                     std::chrono::milliseconds(options.status_deadline_ms),
                                     options.pools};
  settings.node = options.node;
  settings.cache_eviction = *gpu::eviction_rule_named(options.eviction_policy); // checked by parse_options
  std::optional<runtime::actor_runtime> actors;
  try {
    actors.emplace(std::move(settings));
    auto scan = actors->initial_scan();
    log::info("catalog_scanned", {{"added", scan.added},
                                  {"updated", scan.updated},
                                  {"removed", scan.removed},
                                  {"unchanged", scan.unchanged},
                                  {"not_taken", scan.errors.size()}});
  } catch (const std::exception& e) {
    return fail(std::string{"modeld: "} + e.what());
  }
  protocol::service_context context{actors->bridge(),  actors->registry(),    actors->services(),
                                    actors->scanner(), actors->use_cases(),          actors->cache_board(),
                                    actors->catalog_board(),
                                    options.model_roots, options.auth_token, options.fault_injection,
                                    actors->pool_gauges()};
  context.memory = {options.default_keep_alive_ms, options.auto_evict, options.eviction_policy,
                    options.share_components};
  // Before the protocol's `listening on` line, which stays the last line and the sign that
  // everything is up.
  std::unique_ptr<metrics::http_listener> metrics_listener;
  if (auto& where = options.metrics_listen) {
    try {
      metrics_listener = std::make_unique<metrics::http_listener>(where->host, where->port,
                                                                  [&context] { return protocol::metrics_page(context); });
    } catch (const std::exception& e) {
      return fail("modeld: cannot listen on " + where->host + ":" + std::to_string(where->port) +
                  " for --metrics-listen: " + e.what());
    }
    std::cout << "metrics listening on " << metrics_listener->address() << ":" << metrics_listener->port() << std::endl;
    log::info("metrics_listening", {{"address", metrics_listener->address()}, {"port", metrics_listener->port()}});
  }
  if (auto port = actors->node_port()) {
    std::cout << "node " << options.node.name << " listening on " << options.node.listen->host << ":" << *port
              << std::endl;
    log::info("node_listening", {{"node", options.node.name}, {"address", options.node.listen->host}, {"port", *port}});
  }
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
  log::info("listening", {{"address", endpoint.address().to_string()},
                          {"port", endpoint.port()},
                          {"devices", std::get<std::vector<gpu::device_description>>(devices).size()},
                          {"model_roots", options.model_roots.size()}});

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::co_spawn(io, drain_on_signal(signals, *server, options.limits.drain_grace, io), asio::detached);
  server->start();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.io_threads; ++i)
    threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads)
    t.join();
  metrics_listener.reset(); // scrapes read the actors' state: stop them before the actors

  bool clean = actors->stop(actor_stop_time);
  if (clean)
    log::info("stopped", {});
  else
    log::warning("stopped", {{"reason", "some actors did not stop in time"}});
  return 0;
}
