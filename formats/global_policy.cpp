#include "formats/global_policy.hpp"

#include <array>
#include <string>

namespace modeld::formats {

namespace {

// Exact qualified names torch.load(weights_only=True) and picklescan accept.
constexpr std::array<std::string_view, 36> safe_names{{
  "collections.OrderedDict",
  "collections.Counter",
  "torch._utils._rebuild_tensor_v2",
  "torch.nn.parameter.Parameter",
  "torch.Size",
  "torch.Tensor",
  "torch.device",
  "torch.serialization._get_layout",
  "torch._tensor._rebuild_from_type_v2",
  "_codecs.encode",
  "builtins.bytearray",
  "builtins.set",
  "builtins.complex",
  "numpy.dtype",
  "numpy.ndarray",
  "numpy.core.multiarray._reconstruct",
  "torch.LongStorage",
  "torch.FloatStorage",
  "torch.HalfStorage",
  "torch.DoubleStorage",
  "torch.BFloat16Storage",
  "torch.BoolStorage",
  "torch.CharStorage",
  "torch.ShortStorage",
  "torch.IntStorage",
  "torch.ByteStorage",
  "torch.ComplexFloatStorage",
  "torch.ComplexDoubleStorage",
  "torch.QInt8Storage",
  "torch.QUInt8Storage",
  "torch.QInt32Storage",
  "torch.QUInt4x2Storage",
  "torch.QUInt2x4Storage",
  "torch.UntypedStorage",
  "torch.storage.UntypedStorage",
  "torch.storage.TypedStorage",
}};

// torch dtype objects pickle as plain attributes of `torch`.
constexpr std::array<std::string_view, 30> torch_dtypes{{
  "float32", "float", "float64", "double", "float16", "half", "bfloat16", "complex64",
  "cfloat", "complex128", "cdouble", "uint8", "int8", "int16", "short", "int32", "int",
  "int64", "long", "bool", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
  "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "complex32",
}};

// picklescan's deny list, plus aliases of the same functions. An entry matches the qualified
// name itself and everything below it (`os` matches `os.path.join`).
constexpr std::array<std::string_view, 61> unsafe_prefixes{{
  "builtins.eval", "builtins.exec", "builtins.compile", "builtins.getattr", "builtins.apply",
  "builtins.open", "builtins.breakpoint", "builtins.__import__", "builtins.setattr",
  "builtins.delattr", "builtins.globals", "builtins.locals", "builtins.vars",
  "__builtin__.eval", "__builtin__.exec", "__builtin__.compile", "__builtin__.getattr",
  "__builtin__.apply", "__builtin__.open", "__builtin__.breakpoint", "__builtin__.__import__",
  "__builtin__.execfile", "__builtin__.setattr", "__builtin__.delattr", "__builtin__.globals",
  "os", "posix", "nt", "subprocess", "sys", "socket", "ssl", "shutil", "runpy", "webbrowser",
  "pty", "pickle", "_pickle", "pdb", "bdb", "asyncio", "aiohttp", "ctypes", "commands",
  "httplib", "requests.api", "urllib.request", "uuid", "venv", "pip", "pydoc", "profile",
  "cProfile", "timeit", "numpy.f2py", "functools.partial", "importlib", "marshal", "code",
  "torch.load", "numpy.load",
}};

constexpr std::array<std::string_view, 14> unsafe_exact_prefixes{{
  "operator.attrgetter", "operator.itemgetter", "operator.methodcaller",
  "_operator.attrgetter", "_operator.itemgetter", "_operator.methodcaller", "types.CodeType",
  "logging.FileHandler", "_io.FileIO", "pkgutil.resolve_name", "torch.serialization.load",
  "torch.utils.collect_env.run", "multiprocessing.util.spawnv_passfds", "_posixsubprocess",
}};

bool under(std::string_view qualified, std::string_view prefix) noexcept {
  return qualified.size() >= prefix.size() && qualified.substr(0, prefix.size()) == prefix &&
         (qualified.size() == prefix.size() || qualified[prefix.size()] == '.');
}

} // namespace

std::string_view to_string(global_safety safety) {
  switch (safety) {
    case global_safety::safe: return "safe";
    case global_safety::unsafe: return "unsafe";
    case global_safety::unknown: return "unknown";
  }
  return "unknown";
}

global_safety classify_global(std::string_view module, std::string_view name, bool torchscript) {
  std::string qualified;
  qualified.reserve(module.size() + 1 + name.size());
  qualified.append(module).append(".").append(name);
  for (auto prefix : unsafe_prefixes)
    if (under(qualified, prefix))
      return global_safety::unsafe;
  for (auto prefix : unsafe_exact_prefixes)
    if (under(qualified, prefix))
      return global_safety::unsafe;
  for (auto safe : safe_names)
    if (qualified == safe)
      return global_safety::safe;
  if (module == "torch") {
    for (auto dtype : torch_dtypes)
      if (name == dtype)
        return global_safety::safe;
  }
  // torch._utils._rebuild_* (tensor, parameter, qtensor, sparse, ...) rebuild data, no code.
  if (module == "torch._utils" && name.starts_with("_rebuild_") &&
      name.find('.') == std::string_view::npos)
    return global_safety::safe;
  if (torchscript && (module == "__torch__" || module.starts_with("__torch__.") ||
                      module == "torch.jit._pickle"))
    return global_safety::safe;
  return global_safety::unknown;
}

} // namespace modeld::formats
