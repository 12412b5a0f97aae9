// The model domain's catalog, metadata and validation commands (PROTOCOL.md, "Model
// domain"): each reads its fields, asks the store, scanner or validation actors, and maps
// the answer to JSON.
#pragma once

#include "catalog/discovery.hpp"
#include "protocol/commands.hpp"

#include <map>
#include <string>
#include <vector>

namespace modeld::protocol {

// Model id -> the devices it is resident on (this node's and joined nodes'), as the devices
// last published.
using model_residence = std::map<std::string, std::vector<std::string>>;
model_residence loaded_models(const service_context& context);

asio::awaitable<command_result> get_models(service_context& context, request& req);
asio::awaitable<command_result> get_model(service_context& context, request& req);
asio::awaitable<command_result> post_model_scan(service_context& context, request& req);
asio::awaitable<command_result> post_model_validate(service_context& context, request& req);
asio::awaitable<command_result> get_model_metadata(service_context& context, request& req);
asio::awaitable<command_result> put_model_metadata(service_context& context, request& req);
asio::awaitable<command_result> get_model_components(service_context& context, request& req);
asio::awaitable<command_result> get_model_benchmark_results(service_context& context, request& req);

} // namespace modeld::protocol
