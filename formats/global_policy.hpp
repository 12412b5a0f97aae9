#pragma once

#include <string_view>

namespace modeld::formats {

enum class global_safety { safe, unsafe, unknown };

std::string_view to_string(global_safety safety);

// Classifies the callable a pickle imports by `module` and (possibly dotted) `name`.
// safe: what torch.load(weights_only=True) and picklescan allow; unsafe: picklescan's deny list
// (whole modules match their submodules too, and `name` is joined to `module` before matching so
// `torch` + `serialization.load` is caught); unknown: anything else.
// `torchscript` also allows the `__torch__.` classes TorchScript archives define, which run as
// TorchScript, not Python.
global_safety classify_global(std::string_view module, std::string_view name,
                              bool torchscript = false);

} // namespace modeld::formats
