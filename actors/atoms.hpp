// Every atom of modeld's actor messages, in one place (CAF 0.17: at most 10 characters).
#pragma once

#include <caf/atom.hpp>

namespace modeld::actors {

using status_atom = caf::atom_constant<caf::atom("status")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using ok_atom = caf::atom_constant<caf::atom("ok")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using fault_atom = caf::atom_constant<caf::atom("fault")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;

using known_atom = caf::atom_constant<caf::atom("known")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using cached_atom = caf::atom_constant<caf::atom("cached")>;
using remember_atom = caf::atom_constant<caf::atom("remember")>;
using identify_atom = caf::atom_constant<caf::atom("identify")>;
using results_atom = caf::atom_constant<caf::atom("results")>;
using scan_atom = caf::atom_constant<caf::atom("scan")>;
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using validate_atom = caf::atom_constant<caf::atom("validate")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using evict_atom = caf::atom_constant<caf::atom("evict")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using fill_atom = caf::atom_constant<caf::atom("fill")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using unload_atom = caf::atom_constant<caf::atom("unload")>;
using benchmark_atom = caf::atom_constant<caf::atom("benchmark")>;
using record_atom = caf::atom_constant<caf::atom("record")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;

} // namespace modeld::actors
