// `co_await ask<R>(...)`: a typed actor request from an Asio coroutine. The request goes out
// through the gateway actors; the reply is posted back to the caller's executor through a
// one-slot channel, so the io_context never blocks on an actor and the wait is cancellable
// (timeout_ms, cancel).
#pragma once

#include "actors/errors.hpp"

#include "actors/bridge.hpp"
#include "actors/device_messages.hpp"
#include "protocol/errors.hpp"

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace modeld::protocol {

// The reply, or why there is none (an actor error, its timeout, or cancellation).
template <class Result>
using actor_reply = std::variant<Result, caf::error>;

// A typed failure as the wire shows it: its code, its message, and as details the memory
// figures of an INSUFFICIENT_MEMORY and what it concerned (device_id, model_id, path).
inline protocol_error from_failure(const actors::failure& f) {
  protocol_error error{wire_code(f.code), f.message};
  if (f.memory) {
    error.details["memory"] = f.memory->memory;
    error.details["needed_bytes"] = f.memory->needed_bytes;
    error.details["free_bytes"] = f.memory->free_bytes;
    error.details["budget_bytes"] = f.memory->budget_bytes;
  }
  for (auto& [key, value] : f.context)
    error.details[key] = value;
  return error;
}

// An actor's error answer: a typed modeld error keeps its code (and message); any other
// error (a crashed or restarting actor, CAF's own) is INTERNAL.
inline protocol_error actor_failure(const caf::error& error, std::string_view what) {
  return from_failure(actors::failure_of(error, what));
}

template <class Result, class Handle, class Timeout, class... Ts>
asio::awaitable<actor_reply<Result>> ask(actors::actor_bridge& bridge, Handle handle, Timeout timeout,
                                         Ts... args) {
  using channel_type = asio::experimental::channel<void(asio::error_code, std::shared_ptr<actor_reply<Result>>)>;
  auto channel = std::make_shared<channel_type>(co_await asio::this_coro::executor, 1);
  auto deliver = [channel](actor_reply<Result> reply) {
    auto boxed = std::make_shared<actor_reply<Result>>(std::move(reply));
    asio::post(channel->get_executor(), [channel, boxed] { channel->try_send(asio::error_code{}, boxed); });
  };
  bridge.dispatch([handle = std::move(handle), timeout, deliver, args...](actors::gateway_actor* self) {
    actors::watched_request<Result>(
      self, handle, timeout, [deliver](Result& result) { deliver(actor_reply<Result>{std::move(result)}); },
      [deliver](const caf::error& error) { deliver(actor_reply<Result>{error}); }, args...);
  });
  auto [ec, reply] = co_await channel->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec || !reply)
    co_return actor_reply<Result>{caf::make_error(caf::sec::request_receiver_down)};
  co_return std::move(*reply);
}

} // namespace modeld::protocol
