#include "runtime/node_options.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <unistd.h>

namespace modeld::runtime {
namespace {

std::string host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0')
    return "modeld";
  return name.data();
}

// Letters, digits, '.', '-' and '_', at most 64: a name that reads well in NAME/cuda:0.
bool good_node_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_';
  });
}

} // namespace

void add_node_flags(CLI::App& app, raw_node_flags& raw) {
  app.add_option("--node-name", raw.name, "This node's name in other nodes' device ids, NAME/cuda:0 (default: the host name)");
  app.add_option("--node-listen", raw.listen,
                 "HOST:PORT where other nodes join this one, through CAF's network layer (port 0: pick one, print it)");
  app.add_option("--join", raw.joins, "HOST:PORT of a node whose devices this one shows too (repeatable)");
  app.add_option("--node-secret-file", raw.secret_file,
                 "Nodes must share this file's first line; needed to listen on or join other addresses than loopback");
}

std::optional<std::string> finish_node_options(const raw_node_flags& raw, node_options& out) {
  out.name = raw.name.empty() ? host_name() : raw.name;
  if (!good_node_name(out.name))
    return "--node-name '" + out.name + "' must be 1 to 64 letters, digits, '.', '-' or '_'";
  if (!raw.secret_file.empty())
    if (auto error = read_secret_line("--node-secret-file", raw.secret_file, out.secret))
      return error;
  if (!raw.listen.empty()) {
    auto address = parse_listen("--node-listen", raw.listen);
    if (auto* error = std::get_if<std::string>(&address))
      return *error;
    out.listen = std::get<listen_address>(address);
  }
  for (const auto& join : raw.joins) {
    auto address = parse_listen("--join", join);
    if (auto* error = std::get_if<std::string>(&address))
      return *error;
    if (std::get<listen_address>(address).port == 0)
      return "--join '" + join + "' needs the port the other node listens on";
    out.joins.push_back(std::get<listen_address>(address));
  }
  if (out.secret.empty()) {
    if (out.listen && !is_loopback(out.listen->host))
      return "--node-listen on " + out.listen->host + " (not loopback) needs --node-secret-file";
    for (const auto& join : out.joins)
      if (!is_loopback(join.host))
        return "--join " + join.host + " (not loopback) needs --node-secret-file";
  }
  return std::nullopt;
}

} // namespace modeld::runtime
