// A blocking NDJSON client of modeld: one request at a time, every wait (connect, write, read)
// bounded by a deadline, progress events handed to a callback, and Ctrl-C turned into the
// protocol's `cancel` for the request in flight.
#pragma once

#include "ctl/address.hpp"
#include "protocol/framing.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <boost/json/object.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace modeld::ctl {

// The connection failed, was lost, or modeld did not answer in time (exit code 3).
struct transport_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct progress_event {
  std::string stage;
  std::uint64_t done_bytes = 0;
  std::uint64_t total_bytes = 0;
  double progress = 0; // 0..1
};

struct call_options {
  // Bounds the request: sent as its `timeout_ms`, so modeld stops the work and answers
  // TIMEOUT; the client waits a little longer for that answer before giving up itself.
  std::chrono::milliseconds timeout{60000};
  // Called for each progress event; when set, the request asks for them (`stream: true`).
  std::function<void(const progress_event&)> on_progress;
};

struct reply {
  std::string request_id;
  // The response line; empty when the call was interrupted and no answer came in the grace.
  boost::json::object line;
  // Ctrl-C arrived while waiting: `cancel` was sent for this request.
  bool interrupted = false;
  // From writing the request to reading its answer, measured here.
  double round_trip_ms = 0;
};

class client {
public:
  // Resolves and connects within `connect_timeout`; throws transport_error.
  client(const address& where, std::chrono::milliseconds connect_timeout);
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends `command` with `data` and waits for its answer; throws transport_error.
  reply call(std::string_view command, boost::json::object data, const call_options& options);

private:
  using clock = std::chrono::steady_clock;

  // Runs one completion handler; throws transport_error once `deadline` passes.
  void run_one(clock::time_point deadline, std::string_view waiting_for);
  void write_line(std::string line, clock::time_point deadline);
  // The next line from modeld, or nullopt when Ctrl-C arrived first.
  std::optional<boost::json::object> next_line(clock::time_point deadline);
  void start_read();
  void watch_interrupt();
  void send_cancel(const std::string& target, clock::time_point deadline);

  std::string where_;
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  // Created at the first call: Ctrl-C while connecting just ends the process, as nothing
  // runs on modeld yet.
  std::unique_ptr<asio::signal_set> interrupt_signals_;
  bool interrupt_pending_ = false;
  // A request id unique to this process, so lines on a shared log can be told apart.
  std::string id_prefix_;
  std::uint64_t next_id_ = 0;

  // Read state: completion handlers touch only members, never a waiting caller's locals, so a
  // wait abandoned by its deadline leaves nothing dangling.
  protocol::line_splitter splitter_;
  std::array<char, 64 * 1024> chunk_{};
  std::deque<std::string> lines_;
  bool reading_ = false;
  bool line_too_large_ = false;
  asio::error_code read_error_;

  std::string outgoing_;
  bool written_ = false;
  asio::error_code write_error_;
};

} // namespace modeld::ctl
