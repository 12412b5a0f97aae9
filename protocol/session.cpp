#include "protocol/session.hpp"

#include "protocol/json_writer.hpp"
#include "protocol/lease_commands.hpp"
#include "protocol/status_json.hpp"

#include "actors/log.hpp"
#include "actors/secrets.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <boost/json/array.hpp>

#include <exception>
#include <string_view>
#include <type_traits>

namespace modeld::protocol {
namespace json = boost::json;
using asio::experimental::as_tuple;

namespace {

constexpr std::size_t read_chunk_bytes = 64 * 1024;

std::string_view text_of(const std::variant<std::string, std::shared_ptr<const std::string>>& piece) {
  if (const auto* line = std::get_if<std::string>(&piece))
    return *line;
  return *std::get<std::shared_ptr<const std::string>>(piece);
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

} // namespace

session::session(asio::ip::tcp::socket socket, service_context& context, const server_limits& limits,
                 std::uint64_t connection_number, std::function<void()> on_close)
  : socket_(std::move(socket)), context_(context), limits_(limits), connection_number_(connection_number),
    on_close_(std::move(on_close)), splitter_(limits.max_frame_bytes), read_buffer_(read_chunk_bytes),
    reader_wakeup_(socket_.get_executor()), writer_wakeup_(socket_.get_executor()),
    half_line_timer_(socket_.get_executor()), idle_timer_(socket_.get_executor()), last_activity_(clock::now()),
    authenticated_(!context.auth_token) {
  asio::error_code ec;
  socket_.non_blocking(true, ec); // flush_read_batch writes without waiting
  auto endpoint = socket_.remote_endpoint(ec);
  if (!ec)
    peer_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

session::~session() {
  if (on_close_)
    on_close_();
}

asio::awaitable<void> session::run() {
  auto self = shared_from_this();
  // Events about this connection's leases (lease_revoked) come from any thread: written on the
  // strand, in the connection's key style.
  leases_ = std::make_shared<connection_leases>(
    connection_number_, [weak = weak_from_this(), strand = executor()](json::object event) {
      asio::post(strand, [weak, event = std::move(event)]() mutable {
        if (auto self = weak.lock(); self && !self->closed_)
          self->enqueue(event_line(std::move(event), self->style_));
      });
    });
  asio::co_spawn(executor(), [self] { return self->write_loop(); }, asio::detached);
  asio::co_spawn(executor(), [self] { return self->half_line_watchdog(); }, asio::detached);
  if (limits_.idle_timeout.count() > 0)
    asio::co_spawn(executor(), [self] { return self->idle_watchdog(); }, asio::detached);
  co_await read_loop();
}

void session::drain() {
  draining_ = true;
  read_cancel_.emit(asio::cancellation_type::terminal);
  wake_reader();
}

asio::awaitable<void> session::read_loop() {
  while (!closed_ && !draining_ && !close_after_flush_) {
    if (in_flight_ >= limits_.max_in_flight_per_connection || queued_bytes_ >= limits_.max_queued_response_bytes) {
      // Backpressure: a client that pipelines faster than it reads waits unread.
      reader_wakeup_.expires_at(clock::time_point::max());
      co_await reader_wakeup_.async_wait(as_tuple(asio::use_awaitable));
      continue;
    }
    auto [ec, n] = co_await socket_.async_read_some(
      asio::buffer(read_buffer_), asio::bind_cancellation_slot(read_cancel_.slot(), as_tuple(asio::use_awaitable)));
    if (ec)
      break;
    auto received = clock::now();
    last_activity_ = received;
    in_read_batch_ = true;
    splitter_.feed({read_buffer_.data(), n}, [&](const frame& f) { on_frame(f, received); });
    in_read_batch_ = false;
    flush_read_batch();
    if (!splitter_.has_partial_line()) {
      partial_since_.reset();
    } else if (!partial_since_) {
      partial_since_ = received;
      half_line_timer_.cancel();
    }
  }
  // No more requests: answer those in flight, flush, close.
  while (!closed_ && (in_flight_ > 0 || !queue_.empty() || writing_)) {
    reader_wakeup_.expires_at(clock::time_point::max());
    co_await reader_wakeup_.async_wait(as_tuple(asio::use_awaitable));
  }
  close();
}

asio::awaitable<void> session::write_loop() {
  auto self = shared_from_this();
  std::vector<piece> batch;
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (queue_.empty()) {
      writer_wakeup_.expires_at(clock::time_point::max());
      co_await writer_wakeup_.async_wait(as_tuple(asio::use_awaitable));
      continue;
    }
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    buffers.clear();
    std::size_t bytes = 0;
    for (auto& part : batch) {
      auto text = text_of(part);
      buffers.emplace_back(asio::buffer(text.data(), text.size()));
      bytes += text.size();
    }
    writing_ = true;
    auto [ec, written] = co_await asio::async_write(socket_, buffers, as_tuple(asio::use_awaitable));
    writing_ = false;
    queued_bytes_ -= bytes;
    wake_reader();
    if (ec || (close_after_flush_ && queue_.empty())) {
      close();
      break;
    }
  }
}

asio::awaitable<void> session::half_line_watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    half_line_timer_.expires_at(partial_since_ ? *partial_since_ + limits_.half_line_timeout
                                               : clock::time_point::max());
    co_await half_line_timer_.async_wait(as_tuple(asio::use_awaitable));
    if (closed_ || !partial_since_ || clock::now() - *partial_since_ < limits_.half_line_timeout)
      continue;
    protocol_error error{error_code::timeout, "a request line was started but not finished within " +
                                                std::to_string(limits_.half_line_timeout.count()) +
                                                " ms; closing the connection"};
    enqueue(error_line(nullptr, error, 0, style_));
    close_after_flush_ = true;
    read_cancel_.emit(asio::cancellation_type::terminal);
    break;
  }
}

bool session::busy() const { return in_flight_ > 0 || !subscriptions_.empty() || !queue_.empty() || writing_; }

asio::awaitable<void> session::idle_watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + limits_.idle_timeout);
    co_await idle_timer_.async_wait(as_tuple(asio::use_awaitable));
    if (closed_ || draining_ || close_after_flush_)
      break;
    if (busy()) {
      last_activity_ = clock::now(); // in use until now; look again a whole timeout later
      continue;
    }
    if (clock::now() - last_activity_ < limits_.idle_timeout)
      continue;
    protocol_error error{error_code::timeout, "the connection was idle for " +
                                                std::to_string(limits_.idle_timeout.count()) +
                                                " ms (no request, no subscription, no bytes received); closing it"};
    error.details["idle_timeout_ms"] = limits_.idle_timeout.count();
    enqueue(error_line(nullptr, error, 0, style_));
    close_after_flush_ = true;
    read_cancel_.emit(asio::cancellation_type::terminal);
    break;
  }
}

void session::on_frame(const frame& f, clock::time_point received) {
  if (f.type == frame::kind::line) {
    on_line(f.text, received);
    return;
  }
  protocol_error error{error_code::frame_too_large, "request line of " + std::to_string(f.size) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(limits_.max_frame_bytes) + " bytes"};
  error.details["limit_bytes"] = limits_.max_frame_bytes;
  error.details["line_bytes"] = f.size;
  reply(nullptr, nullptr, error, received);
}

void session::on_line(std::string_view line, clock::time_point received) {
  auto parsed = parse_request(line);
  if (auto* rejected = std::get_if<rejected_request>(&parsed)) {
    reply(nullptr, rejected->request_id, rejected->error, received);
    return;
  }
  auto& req = std::get<request>(parsed);
  if (req.request_id.is_null())
    req.request_id = "modeld-" + std::to_string(connection_number_) + "-" + std::to_string(++next_server_id_);
  auto* command = find_command(req.command);
  if (command == nullptr) {
    protocol_error error{error_code::unknown_command, "unknown command '" + req.command + "'"};
    error.details["command"] = req.command;
    reply(nullptr, req.request_id, error, received);
    return;
  }
  if (!authenticated_ && command->name != "hello") {
    log_refused(req, "request before hello");
    reply(command, req.request_id,
          protocol_error{error_code::unauthenticated, "send hello with the server's token first"}, received);
    return;
  }
  if (answer_connection_command(*command, req, received))
    return;
  if (command->instant) {
    auto result = run_instant(*command, req);
    note_outcome(*command, req, result, received);
    reply(command, req.request_id, std::move(result), received);
    return;
  }
  start_request(*command, std::move(req), received);
}

bool session::answer_connection_command(const command_entry& command, request& req, clock::time_point received) {
  if (command.name == "ping")
    reply(&command, req.request_id, json::value(json::object{}), received);
  else if (command.name == "hello")
    answer_hello(command, req, received);
  else if (command.name == "cancel")
    answer_cancel(command, req, received);
  else if (command.name == "subscribe_status")
    answer_subscribe(command, req, received);
  else if (command.name == "unsubscribe")
    answer_unsubscribe(command, req, received);
  else
    return false;
  return true;
}

void session::log_refused(const request& req, std::string_view reason) const {
  log::warning("auth_refused", {{"request_id", request_id_text(req.request_id)},
                                {"connection", connection_number_},
                                {"peer", peer_},
                                {"reason", reason}});
}

void session::answer_hello(const command_entry& command, request& req, clock::time_point received) {
  if (context_.auth_token) {
    auto* token = req.data.if_contains("token");
    if (token == nullptr || !token->is_string() || !actors::same_secret(token->get_string(), *context_.auth_token)) {
      log_refused(req, token == nullptr ? "hello without a token" : "wrong token");
      reply(&command, req.request_id, protocol_error{error_code::unauthenticated, "hello carried no valid token"},
            received);
      close_after_flush_ = true;
      read_cancel_.emit(asio::cancellation_type::terminal);
      return;
    }
    authenticated_ = true;
  }
  if (auto* response_case = req.data.if_contains("response_case")) {
    auto style = response_case->is_string() ? parse_key_case(response_case->get_string()) : std::nullopt;
    if (!style) {
      reply(&command, req.request_id, invalid_field("response_case", "response_case must be snake, camel or pascal"),
            received);
      return;
    }
    style_ = *style;
  }
  if (auto* client = req.data.if_contains("client"); client && client->is_string() && leases_)
    leases_->set_client(std::string{client->get_string().subview(0, 128)});
  json::array capabilities_json;
  for (auto name : capabilities())
    if (name != "inject_fault" || context_.fault_injection_enabled)
      capabilities_json.emplace_back(name);
  json::object data{
    {"protocol_version", protocol_version},
    {"server_version", server_version},
    {"capabilities", std::move(capabilities_json)},
    {"devices", device_listings(*context_.registry)},
    {"model_roots", string_array(context_.model_roots)},
    {"response_case", style_ == key_case::snake ? "snake" : style_ == key_case::camel ? "camel" : "pascal"},
    {"limits",
     {{"max_frame_bytes", limits_.max_frame_bytes},
      {"max_in_flight_per_connection", limits_.max_in_flight_per_connection}}},
  };
  reply(&command, req.request_id, json::value(std::move(data)), received);
}

void session::answer_cancel(const command_entry& command, request& req, clock::time_point received) {
  auto* target = req.data.if_contains("target_request_id");
  if (target == nullptr || !(target->is_string() || target->is_int64() || target->is_uint64())) {
    reply(&command, req.request_id,
          invalid_field("target_request_id", "target_request_id must name a request of this connection"), received);
    return;
  }
  auto [first, last] = pending_.equal_range(request_id_text(*target));
  bool found = first != last;
  for (auto it = first; it != last; ++it)
    it->second->abort(pending_request::reason::cancelled);
  reply(&command, req.request_id, json::value(json::object{{"target_request_id", *target}, {"cancelled", found}}),
        received);
}

void session::abort_in_flight() {
  for (auto& [key, pending] : pending_)
    pending->abort(pending_request::reason::shutdown);
}

void session::pending_request::abort(reason why) {
  if (stopped != reason::none)
    return;
  stopped = why;
  stop.emit(asio::cancellation_type::terminal);
}

void session::start_request(const command_entry& command, request req, clock::time_point received) {
  if (req.stream)
    req.emit_event = [weak = weak_from_this(), id = req.request_id, strand = executor()](json::object event) {
      asio::post(strand, [weak, id, event = std::move(event)]() mutable {
        auto self = weak.lock();
        if (!self)
          return;
        json::object line{{"request_id", id}};
        for (auto& field : event)
          line.emplace(field.key(), std::move(field.value()));
        self->enqueue(event_line(std::move(line), self->style_));
      });
    };
  req.leases = leases_;
  auto pending = std::make_shared<pending_request>();
  pending_.emplace(request_id_text(req.request_id), pending);
  if (req.timeout) {
    pending->limit.emplace(executor(), *req.timeout);
    pending->limit->async_wait([pending](asio::error_code ec) {
      if (!ec)
        pending->abort(pending_request::reason::timed_out);
    });
  }
  ++in_flight_;
  auto slot = pending->stop.slot();
  asio::co_spawn(
    executor(),
    [self = shared_from_this(), &command, req = std::move(req), received, pending]() mutable {
      return self->run_request(command, std::move(req), received, std::move(pending));
    },
    asio::bind_cancellation_slot(slot, asio::detached));
}

asio::awaitable<void> session::run_request(const command_entry& command, request req, clock::time_point received,
                                           std::shared_ptr<pending_request> pending) {
  command_result result;
  try {
    result = co_await command.handler(context_, req);
  } catch (const std::exception& e) {
    result = protocol_error{error_code::internal, std::string{"internal error: "} + e.what()};
  }
  if (pending->stopped == pending_request::reason::cancelled) {
    result = protocol_error{error_code::cancelled, "request was cancelled"};
  } else if (pending->stopped == pending_request::reason::shutdown) {
    protocol_error error{error_code::internal, "modeld shut down before this request finished (it drains in-flight "
                                               "requests for --drain-grace-ms=" +
                                                 std::to_string(limits_.drain_grace.count()) + ")"};
    error.details["reason"] = "shutdown";
    result = std::move(error);
  } else if (pending->stopped == pending_request::reason::timed_out) {
    protocol_error error{error_code::timeout,
                         "request did not finish within timeout_ms=" + std::to_string(req.timeout->count())};
    error.details["timeout_ms"] = req.timeout->count();
    result = std::move(error);
  }
  if (pending->stopped != pending_request::reason::none && command.changes_state)
    if (auto* error = std::get_if<protocol_error>(&result))
      error->details["outcome"] = "unknown"; // the change may still land: read before retrying
  note_outcome(command, req, result, received);
  if (pending->limit)
    pending->limit->cancel();
  auto [first, last] = pending_.equal_range(request_id_text(req.request_id));
  for (auto it = first; it != last; ++it)
    if (it->second == pending) {
      pending_.erase(it);
      break;
    }
  reply(&command, req.request_id, std::move(result), received);
  --in_flight_;
  last_activity_ = clock::now();
  wake_reader();
}

command_result session::run_instant(const command_entry& command, const request& req) {
  try {
    return command.instant(context_, req, style_);
  } catch (const std::exception& e) {
    return protocol_error{error_code::internal, std::string{"internal error: "} + e.what()};
  }
}

void session::note_outcome(const command_entry& command, const request& req, const command_result& result,
                           clock::time_point received) const {
  auto* error = std::get_if<protocol_error>(&result);
  const auto took_ms = elapsed_ms(received);
  const bool slow = limits_.slow_request.count() > 0 && took_ms >= static_cast<double>(limits_.slow_request.count());
  if (!slow && !(error && command.changes_state))
    return;
  auto id = request_id_text(req.request_id);
  std::string_view code = error ? to_string(error->code) : std::string_view{"OK"};
  if (slow)
    log::warning("slow_request", {{"request_id", id}, {"command", command.name}, {"ms", took_ms}, {"code", code}});
  if (error && command.changes_state) // a load, unload, write or fault that did not happen
    log::warning("request_failed",
                 {{"request_id", id}, {"command", command.name}, {"code", code}, {"message", error->message}});
}

void session::reply(const command_entry* command, const json::value& id, command_result result,
                    clock::time_point received) {
  // One clock read for both: the metrics count the time the answer states.
  const auto took_ms = elapsed_ms(received);
  auto* error = std::get_if<protocol_error>(&result);
  context_.requests.record(command, error, std::chrono::duration<double, std::milli>(took_ms));
  if (error)
    enqueue(error_line(id, *error, took_ms, style_));
  else if (auto* serialized = std::get_if<serialized_data>(&result))
    enqueue(success_frame(id, took_ms, style_), serialized->json);
  else
    enqueue(success_line(id, std::move(std::get<json::value>(result)), took_ms, style_));
}

void session::enqueue(std::string line) {
  if (closed_)
    return;
  queued_bytes_ += line.size();
  queue_.push_back(std::move(line));
  if (!in_read_batch_)
    writer_wakeup_.cancel();
}

void session::enqueue(line_frame frame, std::shared_ptr<const std::string> middle) {
  if (closed_)
    return;
  queued_bytes_ += frame.head.size() + middle->size() + frame.tail.size();
  queue_.push_back(std::move(frame.head));
  queue_.push_back(std::move(middle));
  queue_.push_back(std::move(frame.tail));
  if (!in_read_batch_)
    writer_wakeup_.cancel();
}

void session::flush_read_batch() {
  if (closed_ || writing_ || queue_.empty())
    return;
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(std::min<std::size_t>(queue_.size(), 64));
  for (const auto& piece : queue_) {
    if (buffers.size() == 64) // what one writev takes; the writer has the rest
      break;
    auto text = text_of(piece);
    buffers.emplace_back(text.data(), text.size());
  }
  asio::error_code ec;
  auto written = socket_.write_some(buffers, ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    close();
    return;
  }
  queued_bytes_ -= written;
  while (written > 0) { // drop what went out; a piece half written keeps its rest
    auto size = text_of(queue_.front()).size();
    if (written < size) {
      queue_.front() = std::string{text_of(queue_.front()).substr(written)};
      break;
    }
    written -= size;
    queue_.pop_front();
  }
  if (!queue_.empty())
    writer_wakeup_.cancel();
}

void session::wake_reader() { reader_wakeup_.cancel(); }

void session::close() {
  if (closed_)
    return;
  closed_ = true;
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  reader_wakeup_.cancel();
  writer_wakeup_.cancel();
  half_line_timer_.cancel();
  idle_timer_.cancel();
  for (auto& [key, pending] : pending_)
    pending->abort(pending_request::reason::cancelled);
  stop_subscriptions();
  if (leases_)
    give_back_all(context_, *leases_); // a lease lives as long as its connection
}

} // namespace modeld::protocol
