// modeld's typed errors (catalog/errc.hpp) as CAF errors of the category `modeld`: an actor
// answers a request with one (its code, plus the message as context), and the front end reads
// the code back, never the text. Registered with the actor system, so CAF renders them by name.
#pragma once

#include "catalog/errc.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <optional>
#include <string>

namespace modeld {

inline constexpr caf::atom_value errc_category = caf::atom("modeld");

// Found by CAF through argument-dependent lookup as well.
caf::error make_error(errc code, std::string message);

// The code of an error of the modeld category; nothing for any other error.
std::optional<errc> errc_of(const caf::error& error);
// The message an error of the modeld category carries (empty for any other error).
std::string message_of(const caf::error& error);

// Lets `config`'s actor system render modeld errors ("modeld:insufficient_memory: ...").
void add_errc_category(caf::actor_system_config& config);

} // namespace modeld
