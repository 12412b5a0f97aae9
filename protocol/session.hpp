// One client connection: a reader coroutine that frames lines and starts one coroutine per
// request (so pipelined requests complete out of order), and a writer coroutine draining a
// bounded queue. Everything of a session runs on its own strand.
#pragma once

#include "protocol/commands.hpp"
#include "protocol/envelope.hpp"
#include "protocol/framing.hpp"
#include "protocol/leases.hpp"
#include "protocol/limits.hpp"

#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace modeld::protocol {

class session : public std::enable_shared_from_this<session> {
public:
  session(asio::ip::tcp::socket socket, service_context& context, const server_limits& limits,
          std::uint64_t connection_number, std::function<void()> on_close);
  ~session();

  // Runs the connection until the client leaves, a fatal error, or a drain completes.
  asio::awaitable<void> run();
  // Stops reading new requests; answers those in flight, then closes. Call on the strand.
  void drain();
  // The drain grace is over: every request still in flight is answered with an error now
  // (its work is cancelled), so the connection can flush and close. Call on the strand.
  void abort_in_flight();

  asio::any_io_executor executor() { return socket_.get_executor(); }

private:
  using clock = std::chrono::steady_clock;

  // A request being worked on. Its coroutine is spawned with `stop`'s slot bound, so a
  // cancel, its timeout_ms, or the connection closing aborts whatever it awaits.
  struct pending_request {
    enum class reason { none, cancelled, timed_out, shutdown };
    asio::cancellation_signal stop;
    std::optional<asio::steady_timer> limit; // only with timeout_ms
    reason stopped = reason::none;

    void abort(reason why);
  };

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> half_line_watchdog();
  asio::awaitable<void> idle_watchdog();
  // Requests in flight, subscriptions or answers still being written: the connection is in use.
  bool busy() const;
  void start_request(const command_entry& command, request req, clock::time_point received);
  asio::awaitable<void> run_request(const command_entry& command, request req, clock::time_point received,
                                    std::shared_ptr<pending_request> pending);

  void on_frame(const frame& f, clock::time_point received);
  void on_line(std::string_view line, clock::time_point received);
  // Answers commands the connection owns. Returns false if the command is not one of them.
  bool answer_connection_command(const command_entry& command, request& req, clock::time_point received);
  // A command answered from published state, inline; an exception becomes INTERNAL.
  command_result run_instant(const command_entry& command, const request& req);
  // One auth_refused log line (never the token).
  void log_refused(const request& req, std::string_view reason) const;
  // Logs a slow request (over --slow-request-ms) and a state change that failed.
  void note_outcome(const command_entry& command, const request& req, const command_result& result,
                    clock::time_point received) const;
  void answer_hello(const command_entry& command, request& req, clock::time_point received);
  void answer_cancel(const command_entry& command, request& req, clock::time_point received);
  // subscribe_status / unsubscribe (session_subscriptions.cpp).
  void answer_subscribe(const command_entry& command, request& req, clock::time_point received);
  void answer_unsubscribe(const command_entry& command, request& req, clock::time_point received);
  asio::awaitable<void> push_status(std::string subscription_id, std::string device_id,
                                    std::chrono::milliseconds interval);
  void stop_subscriptions();
  // Writes the answer and counts it in the request metrics: `command` is null for a line
  // whose command is unknown or could not be read.
  void reply(const command_entry* command, const boost::json::value& id, command_result result,
             clock::time_point received);
  void enqueue(std::string line);
  // A line whose middle is shared text (a published snapshot's): written in place, not copied.
  void enqueue(line_frame frame, std::shared_ptr<const std::string> middle);
  // After the requests of one read are answered: writes what they queued now, in one
  // non-blocking call, when no write is under way; what the socket does not take yet goes to
  // the writer.
  void flush_read_batch();
  void close();
  void wake_reader();

  asio::ip::tcp::socket socket_;
  service_context& context_;
  const server_limits& limits_;
  std::uint64_t connection_number_;
  std::string peer_; // the client's address and port, for log lines
  std::function<void()> on_close_;

  line_splitter splitter_;
  std::vector<char> read_buffer_;
  asio::cancellation_signal read_cancel_;
  asio::steady_timer reader_wakeup_;
  asio::steady_timer writer_wakeup_;
  asio::steady_timer half_line_timer_;
  std::optional<clock::time_point> partial_since_;
  asio::steady_timer idle_timer_;
  clock::time_point last_activity_; // bytes received, a request answered, or last seen busy()

  // What is to be written, in order: lines, and the shared middles of framed lines.
  using piece = std::variant<std::string, std::shared_ptr<const std::string>>;
  std::deque<piece> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool in_read_batch_ = false; // answers queue without waking the writer: flush_read_batch follows
  std::size_t in_flight_ = 0;
  std::uint64_t next_server_id_ = 0;
  std::unordered_multimap<std::string, std::shared_ptr<pending_request>> pending_;
  // Status subscriptions: id -> the timer that paces its pushes (cancelled to stop it).
  std::unordered_map<std::string, std::shared_ptr<asio::steady_timer>> subscriptions_;
  std::uint64_t next_subscription_ = 0;

  key_case style_ = key_case::snake;
  bool authenticated_ = false;
  bool draining_ = false;
  bool close_after_flush_ = false;
  bool closed_ = false;
  std::shared_ptr<connection_leases> leases_; // made when the session runs
};

} // namespace modeld::protocol
