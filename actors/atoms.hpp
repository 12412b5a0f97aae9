// Every atom of modeld's actor messages, in one place (CAF 0.17: at most 10 characters).
#pragma once

#include <caf/atom.hpp>

namespace modeld::actors {

using status_atom = caf::atom_constant<caf::atom("status")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using ok_atom = caf::atom_constant<caf::atom("ok")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using fault_atom = caf::atom_constant<caf::atom("fault")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;

} // namespace modeld::actors
