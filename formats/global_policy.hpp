#pragma once

#include <string_view>

namespace modeld::formats {

enum class global_safety { safe, unsafe, unlisted };

std::string_view to_string(global_safety safety);

// Classifies the callable a pickle imports by `module` and (possibly dotted) `name`.
// An allow list, as torch.load(weights_only=True) and A1111's safe unpickler are: safe is only
// what weight files legitimately reference (formats/README.md names each entry's source), and
// everything else is refused. unsafe: a published code-execution gadget (picklescan's deny list
// and later advisories; a module entry also matches its submodules, and `name` is joined to
// `module` before matching, so `torch` + `hub.load` is caught); unlisted: any other global.
// The split only labels the refusal; both make a file invalid.
// `torchscript` also allows the `__torch__.` classes and torch.jit._pickle helpers TorchScript
// archives reference, which run as TorchScript, not Python.
global_safety classify_global(std::string_view module, std::string_view name,
                              bool torchscript = false);

} // namespace modeld::formats
