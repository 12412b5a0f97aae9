#include "ctl/client.hpp"

#include <asio/connect.hpp>
#include <asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <csignal>

#include <unistd.h>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

// A reply larger than this is not one modeld would send; refusing it keeps a wrong peer from
// filling memory.
constexpr std::size_t max_line_bytes = 256u << 20;
// How long past a request's timeout_ms the client waits for modeld's TIMEOUT answer.
constexpr std::chrono::milliseconds answer_grace{2000};
// How long after Ctrl-C the client waits for the cancelled request's answer.
constexpr std::chrono::milliseconds cancel_grace{2000};

std::uint64_t count_field(const json::object& line, std::string_view key) {
  auto* value = line.if_contains(key);
  if (value == nullptr)
    return 0;
  if (value->is_uint64())
    return value->get_uint64();
  if (value->is_int64())
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, value->get_int64()));
  return 0;
}

progress_event progress_of(const json::object& line) {
  progress_event event;
  if (auto* stage = line.if_contains("stage"); stage && stage->is_string())
    event.stage = std::string{stage->get_string()};
  event.done_bytes = count_field(line, "done_bytes");
  event.total_bytes = count_field(line, "total_bytes");
  if (auto* progress = line.if_contains("progress"); progress && progress->is_number())
    event.progress = progress->to_number<double>();
  return event;
}

double ms_since(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

} // namespace

bool succeeded(const json::object& line) {
  auto* success = line.if_contains("success");
  return success != nullptr && success->is_bool() && success->get_bool();
}

std::string error_field(const json::object& line, std::string_view key) {
  auto* error = line.if_contains("error");
  auto* field = error && error->is_object() ? error->get_object().if_contains(key) : nullptr;
  return field && field->is_string() ? std::string{field->get_string()} : std::string{};
}

client::client(const address& where, std::chrono::milliseconds connect_timeout)
  : where_(to_string(where)), socket_(io_), id_prefix_("modelctl-" + std::to_string(getpid()) + "-"),
    splitter_(max_line_bytes) {
  auto deadline = clock::now() + connect_timeout;
  // The resolver and the flags below are locals: if the deadline passes, the constructor throws
  // and io_ is destroyed without running their handlers again.
  asio::ip::tcp::resolver resolver(io_);
  asio::ip::tcp::resolver::results_type endpoints;
  asio::error_code error;
  bool resolved = false;
  resolver.async_resolve(where.host, std::to_string(where.port), asio::ip::resolver_base::numeric_service,
                         [&](const asio::error_code& ec, asio::ip::tcp::resolver::results_type results) {
                           error = ec;
                           endpoints = std::move(results);
                           resolved = true;
                         });
  while (!resolved)
    run_one(deadline, "resolving " + where.host);
  if (error)
    throw transport_error("cannot resolve '" + where.host + "': " + error.message());
  bool connected = false;
  asio::async_connect(socket_, endpoints, [&](const asio::error_code& ec, const asio::ip::tcp::endpoint&) {
    error = ec;
    connected = true;
  });
  while (!connected)
    run_one(deadline, "connecting");
  if (error)
    throw transport_error("cannot connect to modeld at " + where_ + ": " + error.message());
  socket_.set_option(asio::ip::tcp::no_delay(true), error);
}

void client::run_one(clock::time_point deadline, std::string_view waiting_for) {
  if (io_.stopped())
    io_.restart();
  if (io_.run_one_until(deadline) == 0 && clock::now() >= deadline)
    throw transport_error("timed out " + std::string{waiting_for} + " (modeld at " + where_ + ")");
}

void client::watch_interrupt() {
  if (interrupt_signals_)
    return;
  interrupt_signals_ = std::make_unique<asio::signal_set>(io_, SIGINT);
  interrupt_signals_->async_wait([this](const asio::error_code& ec, int) {
    if (!ec)
      interrupt_pending_ = true;
  });
}

void client::write_line(std::string line, clock::time_point deadline) {
  outgoing_ = std::move(line);
  written_ = false;
  asio::async_write(socket_, asio::buffer(outgoing_), [this](const asio::error_code& ec, std::size_t) {
    write_error_ = ec;
    written_ = true;
  });
  while (!written_)
    run_one(deadline, "sending the request");
  if (write_error_)
    throw transport_error("connection to modeld at " + where_ + " lost: " + write_error_.message());
}

void client::start_read() {
  if (reading_ || read_error_)
    return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(chunk_), [this](const asio::error_code& ec, std::size_t n) {
    reading_ = false;
    if (ec) {
      read_error_ = ec;
      return;
    }
    splitter_.feed({chunk_.data(), n}, [this](const protocol::frame& f) {
      if (f.type == protocol::frame::kind::too_large)
        line_too_large_ = true;
      else
        lines_.emplace_back(f.text);
    });
  });
}

client::waited client::wait_for_line(clock::time_point deadline, bool answering) {
  while (lines_.empty()) {
    if (interrupt_pending_)
      return waited::interrupted;
    if (line_too_large_)
      throw transport_error("modeld at " + where_ + " sent a line longer than " +
                            std::to_string(max_line_bytes >> 20) + " MiB");
    if (read_error_)
      throw transport_error(read_error_ == asio::error::eof
                              ? "modeld at " + where_ + " closed the connection" + (answering ? " before answering" : "")
                              : "connection to modeld at " + where_ + " lost: " + read_error_.message());
    start_read();
    if (io_.stopped())
      io_.restart();
    if (io_.run_one_until(deadline) == 0 && clock::now() >= deadline)
      return waited::timed_out;
  }
  return waited::line;
}

json::object client::pop_line() {
  auto text = std::move(lines_.front());
  lines_.pop_front();
  json::error_code ec;
  auto value = json::parse(text, ec);
  if (ec || !value.is_object())
    throw transport_error("modeld at " + where_ + " sent a line that is not a JSON object: " + text.substr(0, 200));
  return std::move(value.get_object());
}

std::optional<json::object> client::next_line(clock::time_point deadline) {
  switch (wait_for_line(deadline, true)) {
  case waited::interrupted:
    return std::nullopt;
  case waited::timed_out:
    throw transport_error("timed out waiting for the answer (modeld at " + where_ + ")");
  case waited::line:
    break;
  }
  return pop_line();
}

std::optional<json::object> client::next_message(clock::time_point deadline) {
  if (wait_for_line(deadline, false) != waited::line)
    return std::nullopt;
  return pop_line();
}

void client::send_cancel(const std::string& target, clock::time_point deadline) {
  // A second Ctrl-C should end modelctl at once: give SIGINT its default action back.
  asio::error_code ignored;
  interrupt_signals_->remove(SIGINT, ignored);
  json::object cancel{{"request_id", id_prefix_ + std::to_string(++next_id_)},
                      {"command", "cancel"},
                      {"data", {{"target_request_id", target}}}};
  write_line(json::serialize(cancel) + "\n", deadline);
}

reply client::call(std::string_view command, json::object data, const call_options& options) {
  if (options.cancel_on_interrupt)
    watch_interrupt();
  reply out;
  out.request_id = id_prefix_ + std::to_string(++next_id_);
  json::object request{{"request_id", out.request_id},
                       {"command", command},
                       {"data", std::move(data)},
                       {"timeout_ms", options.timeout.count()}};
  if (options.on_progress)
    request["stream"] = true;
  auto started = clock::now();
  auto deadline = started + options.timeout + answer_grace;
  write_line(json::serialize(request) + "\n", deadline);
  while (true) {
    std::optional<json::object> next;
    try {
      next = next_line(deadline);
      if (!next) { // Ctrl-C: cancel the request and wait briefly for its answer
        interrupt_pending_ = false;
        out.interrupted = true;
        deadline = std::min(deadline, clock::now() + cancel_grace);
        send_cancel(out.request_id, deadline);
        continue;
      }
    } catch (const transport_error&) {
      if (out.interrupted)
        return out; // cancelled, and no answer came in the grace: the user asked to stop anyway
      throw;
    }
    auto& line = *next;
    auto* id = line.if_contains("request_id");
    bool ours = id != nullptr && id->is_string() && id->get_string() == out.request_id;
    if (ours && line.contains("event")) {
      if (options.on_progress && line.at("event") == "progress")
        options.on_progress(progress_of(line));
      continue;
    }
    // An error without a request id is modeld's answer to a line it could not read: ours,
    // as only one request is in flight (the answer to a `cancel` carries its own id).
    bool unread = (id == nullptr || id->is_null()) && !line.contains("event");
    if (ours || unread) {
      out.line = std::move(line);
      out.round_trip_ms = ms_since(started);
      return out;
    }
  }
}

} // namespace modeld::ctl
