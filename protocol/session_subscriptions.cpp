// Status subscriptions of a session: each pushes get_model_status's shape as
// {"event": "status", "subscription_id", "data"} every interval_ms until unsubscribe or the
// connection closes. Pushes are skipped, not queued, while the client is not reading.
#include "protocol/fields.hpp"
#include "protocol/session.hpp"
#include "protocol/status_answers.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace modeld::protocol {
namespace json = boost::json;

namespace {

constexpr std::uint64_t min_interval_ms = 50;
constexpr std::uint64_t max_interval_ms = 3'600'000;
constexpr std::size_t max_subscriptions = 16;

} // namespace

void session::answer_subscribe(const command_entry& command, request& req, clock::time_point received) {
  auto interval = optional_count(req.data, "interval_ms", max_interval_ms);
  if (auto* error = std::get_if<protocol_error>(&interval))
    return reply(&command, req.request_id, *error, received);
  auto interval_ms = std::get<std::optional<std::uint64_t>>(interval).value_or(1000);
  if (interval_ms < min_interval_ms)
    return reply(&command, req.request_id,
                 invalid_field("interval_ms", "interval_ms must be at least " + std::to_string(min_interval_ms)),
                 received);
  auto device = optional_string(req.data, "device_id", 64);
  if (auto* error = std::get_if<protocol_error>(&device))
    return reply(&command, req.request_id, *error, received);
  auto device_id = std::get<std::optional<std::string>>(device).value_or("");
  if (!device_id.empty() && !context_.registry->shows(device_id)) {
    protocol_error error{error_code::device_not_found, "device '" + device_id + "' does not exist"};
    error.details["device_id"] = device_id;
    return reply(&command, req.request_id, error, received);
  }
  if (subscriptions_.size() >= max_subscriptions)
    return reply(&command, req.request_id,
                 protocol_error{error_code::overloaded, "at most " + std::to_string(max_subscriptions) +
                                                          " status subscriptions per connection"},
                 received);
  auto id = "sub-" + std::to_string(connection_number_) + "-" + std::to_string(++next_subscription_);
  subscriptions_.emplace(id, std::make_shared<asio::steady_timer>(executor()));
  reply(&command, req.request_id, json::value(json::object{{"subscription_id", id}, {"interval_ms", interval_ms}}),
        received);
  asio::co_spawn(
    executor(),
    [self = shared_from_this(), id, device_id, interval_ms] {
      return self->push_status(id, device_id, std::chrono::milliseconds(interval_ms));
    },
    asio::detached);
}

void session::answer_unsubscribe(const command_entry& command, request& req, clock::time_point received) {
  auto id = optional_string(req.data, "subscription_id", 128);
  if (auto* error = std::get_if<protocol_error>(&id))
    return reply(&command, req.request_id, *error, received);
  auto& value = std::get<std::optional<std::string>>(id);
  auto found = value ? subscriptions_.find(*value) : subscriptions_.end();
  if (found == subscriptions_.end())
    return reply(&command, req.request_id, invalid_field("subscription_id", "no such subscription on this connection"),
                 received);
  found->second->cancel();
  subscriptions_.erase(found);
  reply(&command, req.request_id, json::value(json::object{{"subscription_id", *value}, {"unsubscribed", true}}),
        received);
}

asio::awaitable<void> session::push_status(std::string subscription_id, std::string device_id,
                                           std::chrono::milliseconds interval) {
  auto self = shared_from_this();
  while (!closed_) {
    auto found = subscriptions_.find(subscription_id);
    if (found == subscriptions_.end())
      co_return;
    auto timer = found->second; // keeps the timer alive while we wait on it
    // A client that does not read gets no new pushes until it catches up.
    if (queued_bytes_ < limits_.max_queued_response_bytes / 2)
      enqueue(event_line(json::object{{"event", "status"},
                                      {"subscription_id", subscription_id},
                                      {"data", status_data(context_.status_from(), status_shape::model, device_id)}},
                         style_));
    timer->expires_after(interval);
    auto [ec] = co_await timer->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec)
      co_return; // unsubscribed or closed
  }
}

void session::stop_subscriptions() {
  for (auto& [id, timer] : subscriptions_)
    timer->cancel();
  subscriptions_.clear();
}

} // namespace modeld::protocol
