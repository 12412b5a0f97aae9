// modelctl's subcommands, one function per group. Each adds its subcommands to `app`; the
// subcommand the user picked fills `chosen` from its flags (a CLI11 callback, run at parse
// time, so a bad combination of flags is a usage error like any other).
#pragma once

#include "ctl/invocation.hpp"

namespace CLI {
class App;
}

namespace modeld::ctl {

// status, devices, ping, fault: get_model_status, get_device_status, ping, inject_fault.
void add_system_commands(CLI::App& app, invocation& chosen);
// models, models show, scan, validate, results: get_models, get_model, post_model_scan,
// post_model_validate, get_model_benchmark_results.
void add_model_commands(CLI::App& app, invocation& chosen);
// meta get, meta set: get_model_metadata, put_model_metadata.
void add_meta_commands(CLI::App& app, invocation& chosen);
// load, unload, bench: post_model_load, post_model_unload, post_model_benchmark.
void add_load_commands(CLI::App& app, invocation& chosen);
// cache ls, cache add, cache rm: get_model_cache, post_model_cache, delete_model_cache.
void add_cache_commands(CLI::App& app, invocation& chosen);

} // namespace modeld::ctl
