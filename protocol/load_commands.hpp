// The load, unload, benchmark and RAM-cache commands (PROTOCOL.md, "Devices"): each reads its
// fields, asks the use cases actor once (actors/use_cases.hpp) and renders its typed answer.
#pragma once

#include "protocol/commands.hpp"

namespace modeld::protocol {

asio::awaitable<command_result> post_model_load(service_context& context, request& req);
asio::awaitable<command_result> post_model_unload(service_context& context, request& req);
asio::awaitable<command_result> post_model_benchmark(service_context& context, request& req);
asio::awaitable<command_result> get_model_cache(service_context& context, request& req);
asio::awaitable<command_result> post_model_cache(service_context& context, request& req);
asio::awaitable<command_result> delete_model_cache(service_context& context, request& req);

// The request of `ticket` was cancelled or timed out: its work, wherever it runs, may stop.
void drop_work(service_context& context, std::uint64_t ticket);

} // namespace modeld::protocol
