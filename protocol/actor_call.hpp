// `co_await ask<R>(...)`: a typed actor request from an Asio coroutine. The request goes out
// through the gateway actors; the reply is posted back to the caller's executor through a
// one-slot channel, so the io_context never blocks on an actor and the wait is cancellable
// (timeout_ms, cancel).
#pragma once

#include "actors/errors.hpp"

#include "actors/bridge.hpp"
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

// INTERNAL for an actor that failed to answer (or answered with an error).
// An actor's error answer: a typed modeld error keeps its code (and message); any other
// error (a crashed or restarting actor, CAF's own) is INTERNAL.
inline protocol_error actor_failure(const caf::error& error, std::string_view what) {
  if (auto code = errc_of(error))
    return {wire_code(*code), std::string{what} + " failed: " + message_of(error)};
  return {error_code::internal, std::string{what} + " failed: " + caf::to_string(error)};
}

template <class Result, class Handle, class Timeout, class... Ts>
asio::awaitable<actor_reply<Result>> ask(actors::actor_bridge& bridge, Handle handle, Timeout timeout,
                                         Ts... args) {
  using channel_type = asio::experimental::channel<void(asio::error_code, std::shared_ptr<actor_reply<Result>>)>;
  // A supervised service between a crash and its restart has no handle: the caller gets an
  // error, as from an actor that went down.
  if (!handle)
    co_return actor_reply<Result>{caf::make_error(caf::sec::request_receiver_down, "restarting after a crash")};
  auto channel = std::make_shared<channel_type>(co_await asio::this_coro::executor, 1);
  auto deliver = [channel](actor_reply<Result> reply) {
    auto boxed = std::make_shared<actor_reply<Result>>(std::move(reply));
    asio::post(channel->get_executor(), [channel, boxed] { channel->try_send(asio::error_code{}, boxed); });
  };
  bridge.dispatch([handle = std::move(handle), timeout, deliver, args...](actors::gateway_actor* self) {
    // The reply, or the target's death while it held the request (it would never answer).
    auto answered = std::make_shared<bool>(false);
    auto answer = [deliver, answered](actor_reply<Result> reply) {
      if (!std::exchange(*answered, true))
        deliver(std::move(reply));
    };
    auto target = handle.address();
    auto watch_id = actors::watch(self, target, [answer](const caf::error& reason) {
      answer(actor_reply<Result>{caf::make_error(caf::sec::request_receiver_down, caf::to_string(reason))});
    });
    self->request(handle, timeout, args...)
      .then(
        [self, target, watch_id, answer](Result& result) {
          actors::unwatch(self, target, watch_id);
          answer(actor_reply<Result>{std::move(result)});
        },
        [self, target, watch_id, answer](caf::error& error) {
          actors::unwatch(self, target, watch_id);
          answer(actor_reply<Result>{std::move(error)});
        });
  });
  auto [ec, reply] = co_await channel->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec || !reply)
    co_return actor_reply<Result>{caf::make_error(caf::sec::request_receiver_down)};
  co_return std::move(*reply);
}

} // namespace modeld::protocol
