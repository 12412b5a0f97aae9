// The model domain's catalog, metadata and validation commands (PROTOCOL.md, "Model
// domain"): each reads its fields, asks the store, scanner or validation actors, and maps
// the answer to JSON.
#pragma once

#include "catalog/discovery.hpp"
#include "protocol/commands.hpp"

#include <set>
#include <string>

namespace modeld::protocol {

// The wire error for a file that could not be resolved or opened inside the roots:
// MODEL_NOT_FOUND, else PATH_NOT_ALLOWED (outside the roots, a link that leaves them, unreadable).
protocol_error located_error(const catalog::scan_error& error);

// Models resident on some device, as the devices last published.
std::set<std::string> loaded_model_ids(const service_context& context);

asio::awaitable<command_result> get_models(service_context& context, request& req);
asio::awaitable<command_result> get_model(service_context& context, request& req);
asio::awaitable<command_result> post_model_scan(service_context& context, request& req);
asio::awaitable<command_result> post_model_validate(service_context& context, request& req);
asio::awaitable<command_result> get_model_metadata(service_context& context, request& req);
asio::awaitable<command_result> put_model_metadata(service_context& context, request& req);
asio::awaitable<command_result> get_model_components(service_context& context, request& req);
asio::awaitable<command_result> get_model_benchmark_results(service_context& context, request& req);

} // namespace modeld::protocol
