// The flags that make modeld a node of several (issue 13): --node-name, --node-listen,
// --join (repeatable) and --node-secret-file, and their checks.
#pragma once

#include "runtime/flag_values.hpp"

#include <CLI/App.hpp>

#include <optional>
#include <string>
#include <vector>

namespace modeld::runtime {

struct node_options {
  std::string name;                     // --node-name: the host name by default
  std::optional<listen_address> listen; // --node-listen: this node's devices served there
  std::vector<listen_address> joins;    // --join: nodes whose devices this one serves too
  std::string secret;                   // --node-secret-file's first line; empty: none

  bool clustered() const { return listen || !joins.empty(); }
};

// The flags as given, before their checks.
struct raw_node_flags {
  std::string name;
  std::string listen;
  std::vector<std::string> joins;
  std::string secret_file;
};

void add_node_flags(CLI::App& app, raw_node_flags& raw);

// Checks the flags into `out`; the reason when one is wrong. A node that listens on, or joins,
// an address other than loopback needs a secret: its network layer would answer anyone.
std::optional<std::string> finish_node_options(const raw_node_flags& raw, node_options& out);

} // namespace modeld::runtime
