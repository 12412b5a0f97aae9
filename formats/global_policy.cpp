#include "formats/global_policy.hpp"

#include <span>
#include <string>

namespace modeld::formats {

namespace {

using namespace std::string_view_literals;

// Exact qualified names a weight file may import. formats/README.md ("Pickle allow list") has
// the same entries with their sources; keep the two in step.
constexpr std::string_view allowed_names[] = {
  // torch.load(weights_only=True): torch/_weights_only_unpickler.py _get_allowed_globals.
  "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter", "torch.Size",
  "torch.Tensor", "torch.device", "torch.serialization._get_layout",
  "torch._tensor._rebuild_from_type_v2", "torch.storage.TypedStorage",
  "torch.storage.UntypedStorage", "torch.UntypedStorage", "_codecs.encode", "builtins.bytearray",
  "builtins.set", "builtins.complex",
  // The same three as Python 3 writes them at protocols 0-2 (torch maps them back through
  // IMPORT_MAPPING; A1111 lists __builtin__.set).
  "__builtin__.set", "__builtin__.bytearray", "__builtin__.complex",
  // torch._utils rebuild functions (weights_only's _tensor_rebuild_functions, plus the CSR one
  // older torch listed). They rebuild tensors from storages and call nothing they are given.
  "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_qtensor",
  "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_sparse_csr_tensor",
  "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
  "torch._utils._rebuild_device_tensor_from_numpy",
  "torch._utils._rebuild_device_tensor_from_cpu_tensor",
  // A1111 modules/safe.py (and picklescan's safe list for the numpy array pair): what Stable
  // Diffusion checkpoints trained with PyTorch Lightning 1.x carry.
  "torch.nn.modules.container.ParameterDict", "numpy.core.multiarray.scalar",
  "numpy.core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray",
  "pytorch_lightning.callbacks.model_checkpoint",
  "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
  // numpy 2 moved numpy.core to numpy._core (picklescan lists _reconstruct there).
  "numpy._core.multiarray.scalar", "numpy._core.multiarray._reconstruct",
  // modeld: other training artefacts of real checkpoints. TorchVersion is a str subclass
  // (torch.__version__); defaultdict's factory is itself a global checked here; the value
  // types only construct plain values (defaultdict factories, dtype maps). Not bytes: bytes(n)
  // allocates n bytes, and pickles never need the type (BINBYTES, or _codecs.encode below 3).
  "torch.torch_version.TorchVersion", "collections.defaultdict", "builtins.list", "builtins.dict",
  "builtins.tuple", "builtins.int", "builtins.float", "builtins.str", "builtins.bool",
  "builtins.frozenset", "__builtin__.list", "__builtin__.dict",
  "__builtin__.tuple", "__builtin__.int", "__builtin__.float", "__builtin__.str",
  "__builtin__.bool", "__builtin__.frozenset",
};

// torch dtypes and quantization schemes pickle as attributes of `torch` (weights_only allows
// every dtype and qscheme).
constexpr std::string_view torch_attributes[] = {
  "float32", "float", "float64", "double", "float16", "half", "bfloat16", "complex32",
  "complex64", "cfloat", "complex128", "cdouble", "uint8", "uint16", "uint32", "uint64", "int8",
  "int16", "short", "int32", "int", "int64", "long", "bool", "qint8", "quint8", "qint32",
  "quint4x2", "quint2x4", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
  "float8_e8m0fnu", "float4_e2m1fn_x2", "per_tensor_affine", "per_tensor_symmetric",
  "per_channel_affine", "per_channel_symmetric", "per_channel_affine_float_qparams",
};

// Legacy storage (torch.<T>Storage, as torch.save names every storage) and tensor classes, CPU
// and CUDA: weights_only's torch._storage_classes and torch._tensor_classes.
constexpr std::string_view storage_stems[] = {
  "Long", "Float", "Half", "Double", "BFloat16", "Bool", "Char", "Short", "Int", "Byte",
  "ComplexFloat", "ComplexDouble", "QInt8", "QUInt8", "QInt32", "QUInt4x2", "QUInt2x4",
};
constexpr std::string_view tensor_stems[] = {
  "Long", "Float", "Half", "Double", "BFloat16", "Bool", "Char", "Short", "Int", "Byte",
};

// Published gadgets. An entry matches the qualified name itself and everything below it (`os`
// matches `os.path.join`). Only the label depends on this list: anything not allowed is refused.
constexpr std::string_view unsafe_prefixes[] = {
  // picklescan's deny list (mmaitre314/picklescan scanner.py _unsafe_globals).
  "builtins.eval", "builtins.exec", "builtins.compile", "builtins.getattr", "builtins.apply",
  "builtins.open", "builtins.breakpoint", "builtins.__import__", "__builtin__.eval",
  "__builtin__.exec", "__builtin__.compile", "__builtin__.getattr", "__builtin__.apply",
  "__builtin__.open", "__builtin__.breakpoint", "__builtin__.__import__", "aiohttp", "asyncio",
  "bdb", "commands", "ctypes", "functools.partial", "httplib", "numpy.f2py",
  "numpy.testing._private.utils", "nt", "posix", "operator.attrgetter", "operator.itemgetter",
  "operator.methodcaller", "os", "requests.api", "runpy", "shutil", "socket", "ssl",
  "subprocess", "sys", "code", "cProfile", "distutils", "doctest", "ensurepip", "idlelib",
  "lib2to3", "pdb", "pickle", "_pickle", "pip", "pty", "profile", "pydoc", "timeit",
  "torch._dynamo", "torch._inductor", "torch.fx.experimental.symbolic_shapes",
  "torch.jit.unsupported_tensor_ops", "torch.serialization.load", "torch.utils._config_module",
  "torch.utils.bottleneck", "torch.utils.collect_env.run",
  "torch.utils.data.datapipes.utils.decoder", "trace", "venv", "webbrowser",
  // Aliases and close relatives of the above (the C modules behind them, reflection helpers).
  "builtins.setattr", "builtins.delattr", "builtins.globals", "builtins.locals", "builtins.vars",
  "__builtin__.execfile", "__builtin__.setattr", "__builtin__.delattr", "__builtin__.globals",
  "_operator.attrgetter", "_operator.itemgetter", "_operator.methodcaller", "_posixsubprocess",
  "_ctypes", "types.CodeType", "types.FunctionType", "types.LambdaType", "logging.FileHandler",
  "_io.FileIO", "_io.open", "io.FileIO", "io.open", "pkgutil.resolve_name", "importlib", "imp",
  "zipimport", "marshal", "multiprocessing", "setuptools._distutils", "_osx_support",
  "_aix_support", "_pyrepl", "urllib", "http.client", "xmlrpc", "ftplib", "smtplib", "telnetlib",
  // Loaders that unpickle or import what they are given, outside this scan: torch.hub fetches
  // and runs hubconf.py, the rest load another (unscanned) pickle or compile code.
  "torch.hub", "torch.load", "torch.storage._load_from_bytes", "torch.package",
  "torch.utils.cpp_extension", "numpy.load", "numpy.ctypeslib", "pandas.read_pickle",
  "pandas.io.pickle", "pandas.eval", "pandas.core.computation.eval", "joblib.load", "dill",
  "cloudpickle", "shelve",
};

constexpr std::string_view torchscript_modules[] = {"__torch__", "torch.jit._pickle"};

bool under(std::string_view qualified, std::string_view prefix) noexcept {
  return qualified.size() >= prefix.size() && qualified.substr(0, prefix.size()) == prefix &&
         (qualified.size() == prefix.size() || qualified[prefix.size()] == '.');
}

bool is_class_of(std::string_view module, std::string_view name, std::string_view suffix,
                 std::span<const std::string_view> stems) noexcept {
  if ((module != "torch" && module != "torch.cuda") || !name.ends_with(suffix))
    return false;
  const auto stem = name.substr(0, name.size() - suffix.size());
  for (auto s : stems)
    if (stem == s)
      return true;
  return false;
}

bool allowed(std::string_view module, std::string_view name, std::string_view qualified) noexcept {
  for (auto safe : allowed_names)
    if (qualified == safe)
      return true;
  if (module == "torch")
    for (auto attribute : torch_attributes)
      if (name == attribute)
        return true;
  return is_class_of(module, name, "Storage"sv, storage_stems) ||
         is_class_of(module, name, "Tensor"sv, tensor_stems);
}

} // namespace

std::string_view to_string(global_safety safety) {
  switch (safety) {
    case global_safety::safe: return "safe";
    case global_safety::unsafe: return "unsafe";
    case global_safety::unlisted: return "unlisted";
  }
  return "unlisted";
}

global_safety classify_global(std::string_view module, std::string_view name, bool torchscript) {
  std::string qualified;
  qualified.reserve(module.size() + 1 + name.size());
  qualified.append(module).append(".").append(name);
  for (auto prefix : unsafe_prefixes)
    if (under(qualified, prefix))
      return global_safety::unsafe;
  if (allowed(module, name, qualified))
    return global_safety::safe;
  if (torchscript)
    for (auto prefix : torchscript_modules)
      if (under(module, prefix))
        return global_safety::safe;
  return global_safety::unlisted;
}

} // namespace modeld::formats
