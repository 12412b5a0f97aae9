// The field readers of the command handlers that live in anonymous namespaces of
// protocol/model_commands.cpp, protocol/load_commands.cpp and protocol/fault_command.cpp, for
// fuzz_protocol. Each protocol_*_fields.cpp here compiles one of those files as it is (it
// #includes the .cpp, so the fuzzer runs the real readers, never a copy) and adds a wrapper
// below; the handlers it also defines are dropped by the linker (--gc-sections) or never run.
//
// Each wrapper runs what its handler reads from `data` before it asks any actor, in the
// handler's order, and returns the first error, or what was read as JSON (to be rendered).
#pragma once

#include "protocol/errors.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <variant>

namespace modeld::fuzz {

using fields_result = std::variant<boost::json::value, protocol::protocol_error>;

// post_model_validate: read_level, then validation_target (model_commands.cpp).
fields_result validate_fields(const boost::json::object& data);

// post_model_load: required_model_id, read_components, read_dtype, read_load_policy (evict,
// keep_alive_ms, pinned, priority), lease, device_id
// (load_commands.cpp; the device lookup itself needs the registry and is left out).
fields_result load_fields(const boost::json::object& data);

// post_model_benchmark: required_model_id, read_benchmark_settings (load_commands.cpp).
fields_result benchmark_fields(const boost::json::object& data);

// inject_fault: target (service_target, device_target), then read_fault (fault_command.cpp).
fields_result fault_fields(const boost::json::object& data);

} // namespace modeld::fuzz
