// modelctl: the operators' command line for modeld. Reads the flags (CLI11), lets the chosen
// subcommand build its one request, and hands that to ctl/run.cpp.
#include "ctl/commands.hpp"
#include "ctl/exit_codes.hpp"
#include "ctl/run.hpp"
#include "ctl/top.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

using namespace modeld::ctl;

int main(int argc, char** argv) {
  CLI::App app{"modelctl: operate modeld (catalog, validation, devices, loads, cache) over its NDJSON protocol",
               "modelctl"};
  app.set_version_flag("--version", MODELCTL_VERSION);
  app.fallthrough(); // the global flags may also follow the subcommand: `modelctl models --json`
  app.require_subcommand(1);
  app.footer("Address: --host/--port, else MODELD_ADDR=HOST:PORT, else 127.0.0.1:7311.\n"
             "Exit codes: 0 ok, 1 modeld answered with an error, 2 usage error, 3 cannot connect, connection lost\n"
             "or no answer in time, 130 interrupted (Ctrl-C sends cancel for the request in flight).\n");

  std::string host, token_file;
  std::uint16_t port = 0;
  bool json = false;
  std::uint64_t timeout_ms = 60000;
  auto* host_option = app.add_option("--host", host, "modeld's host or IP address");
  auto* port_option = app.add_option("--port", port, "modeld's port")->check(CLI::Range(1, 65535));
  auto* token_option =
    app.add_option("--token-file", token_file, "File whose first line is modeld's auth token (sent in hello)");
  app.add_flag("--json", json, "Print the answer's data as one JSON document, for scripts");
  app.add_option("--timeout-ms", timeout_ms, "Bound on each request, sent as its timeout_ms")
    ->capture_default_str()
    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{604800000}));

  invocation chosen;
  add_system_commands(app, chosen);
  add_model_commands(app, chosen);
  add_meta_commands(app, chosen);
  add_load_commands(app, chosen);
  add_cache_commands(app, chosen);
  // top is no single request: it runs its own loop (ctl/top.cpp) instead of run().
  top_options top;
  add_top_command(app, top);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) // --help, --version
      return app.exit(e);
    std::cerr << "modelctl: " << e.what() << "\n(modelctl --help lists the commands and flags)\n";
    return exit_usage;
  }

  auto where = choose_address(*host_option ? std::optional{host} : std::nullopt,
                              *port_option ? std::optional{port} : std::nullopt, std::getenv("MODELD_ADDR"));
  if (auto* error = std::get_if<std::string>(&where)) {
    std::cerr << "modelctl: " << *error << '\n';
    return exit_usage;
  }
  global_options options{std::get<address>(where), std::nullopt, json, std::chrono::milliseconds(timeout_ms)};
  if (*token_option)
    options.token_file = token_file;
  if (app.got_subcommand("top"))
    return run_top(options, top);
  return run(options, chosen);
}
