// A blocking NDJSON client of modeld: one request at a time, every wait (connect, write, read)
// bounded by a deadline, progress events handed to a callback, and Ctrl-C turned into the
// protocol's `cancel` for the request in flight. After a `subscribe_status` call, the lines
// modeld pushes unasked are read one at a time with next_message (modelctl top).
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
  // Ctrl-C while waiting sends `cancel` for the request. Off where the caller owns SIGINT
  // itself (top, whose full-screen terminal must be restored before it exits).
  bool cancel_on_interrupt = true;
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

// Whether a response line reports success; an error field of a failed one ("code",
// "message"), empty when absent.
bool succeeded(const boost::json::object& line);
std::string error_field(const boost::json::object& line, std::string_view key);

class client {
public:
  using clock = std::chrono::steady_clock;

  // Resolves and connects within `connect_timeout`; throws transport_error.
  client(const address& where, std::chrono::milliseconds connect_timeout);
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends `command` with `data` and waits for its answer; throws transport_error.
  reply call(std::string_view command, boost::json::object data, const call_options& options);

  // The next line modeld sends that no call is waiting for (a pushed status event), or
  // nullopt when `deadline` passes first; lines already received return at once, whatever
  // the deadline. Throws transport_error when the connection is lost or a line is no JSON
  // object.
  std::optional<boost::json::object> next_message(clock::time_point deadline);

private:
  enum class waited { line, interrupted, timed_out };

  // Runs one completion handler; throws transport_error once `deadline` passes.
  void run_one(clock::time_point deadline, std::string_view waiting_for);
  void write_line(std::string line, clock::time_point deadline);
  // Until a line is queued, Ctrl-C arrives or `deadline` passes; throws transport_error when
  // the connection is lost (`answering`: a call waits, which the message says).
  waited wait_for_line(clock::time_point deadline, bool answering);
  // The queued line, parsed.
  boost::json::object pop_line();
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
