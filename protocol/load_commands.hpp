// The load, unload and RAM-cache commands (PROTOCOL.md, "Model domain"): resolve the model,
// fetch its bytes through the cache actor, and ask the chosen device actor.
#pragma once

#include "protocol/commands.hpp"

namespace modeld::protocol {

asio::awaitable<command_result> post_model_load(service_context& context, request& req);
asio::awaitable<command_result> post_model_unload(service_context& context, request& req);
asio::awaitable<command_result> post_model_benchmark(service_context& context, request& req);
asio::awaitable<command_result> get_model_cache(service_context& context, request& req);
asio::awaitable<command_result> post_model_cache(service_context& context, request& req);
asio::awaitable<command_result> delete_model_cache(service_context& context, request& req);

} // namespace modeld::protocol
