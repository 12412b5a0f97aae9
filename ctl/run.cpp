#include "ctl/run.hpp"

#include "ctl/client.hpp"
#include "ctl/exit_codes.hpp"
#include "ctl/progress.hpp"

#include <boost/json/serialize.hpp>

#include <fstream>
#include <iostream>
#include <optional>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

// The file's first line, trimmed at the end as modeld trims its own token file.
std::optional<std::string> read_token(const std::string& path) {
  std::ifstream file(path);
  std::string token;
  if (!file || !std::getline(file, token))
    return std::nullopt;
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t'))
    token.pop_back();
  if (token.empty())
    return std::nullopt;
  return token;
}

} // namespace

bool token_for(const global_options& options, std::optional<std::string>& token) {
  if (!options.token_file)
    return true;
  token = read_token(*options.token_file);
  if (!token)
    std::cerr << "modelctl: --token-file '" << *options.token_file << "' cannot be read or holds no token\n";
  return token.has_value();
}

reply authenticate(client& connection, const std::string& token, const call_options& options) {
  return connection.call("hello", {{"token", token}, {"client", "modelctl"}}, options);
}

int report_error(const json::object& line, bool sent_token) {
  auto code = error_field(line, "code");
  std::cerr << "modelctl: " << (code.empty() ? "ERROR" : code) << ": " << error_field(line, "message") << '\n';
  auto* error = line.if_contains("error");
  auto* details = error && error->is_object() ? error->get_object().if_contains("details") : nullptr;
  if (details && details->is_object() && !details->get_object().empty())
    std::cerr << "  details: " << json::serialize(*details) << '\n';
  if (code == "UNAUTHENTICATED" && !sent_token)
    std::cerr << "  modeld wants a token: pass --token-file FILE\n";
  return exit_server_error;
}

namespace {

int report_interrupted(const reply& answer) {
  std::cerr << "modelctl: interrupted: sent cancel for request " << answer.request_id;
  if (answer.line.empty())
    std::cerr << "; no answer came, so whether it took effect is unknown\n";
  else if (succeeded(answer.line))
    std::cerr << "; modeld had already finished it successfully\n";
  else
    std::cerr << "; modeld answered " << error_field(answer.line, "code") << ": " << error_field(answer.line, "message")
              << '\n';
  return exit_interrupted;
}

} // namespace

int run(const global_options& options, const invocation& what) {
  std::optional<std::string> token;
  if (!token_for(options, token))
    return exit_usage;
  try {
    client connection(options.server, std::min(options.timeout, connect_limit));
    call_options plain{options.timeout, {}};
    if (token) {
      auto hello = authenticate(connection, *token, plain);
      if (hello.interrupted)
        return report_interrupted(hello);
      if (!succeeded(hello.line))
        return report_error(hello.line, true);
    }
    std::optional<progress_bar> bar;
    call_options options_for_command = plain;
    if (what.long_running && stderr_is_terminal()) {
      bar.emplace(stderr);
      options_for_command.on_progress = [&bar](const progress_event& event) { bar->update(event); };
    }
    auto answered = connection.call(what.command, what.data, options_for_command);
    bar.reset();
    if (answered.interrupted)
      return report_interrupted(answered);
    if (!succeeded(answered.line))
      return report_error(answered.line, token.has_value());
    static const json::value none;
    auto* data = answered.line.if_contains("data");
    const json::value& shown = data ? *data : none;
    if (options.json)
      std::cout << json::serialize(shown) << '\n';
    else
      what.print(answer{shown, answered.round_trip_ms, to_string(options.server)}, std::cout);
    return exit_ok;
  } catch (const transport_error& e) {
    std::cerr << "modelctl: " << e.what() << '\n';
    return exit_transport;
  }
}

} // namespace modeld::ctl
