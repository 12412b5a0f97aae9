#include <catch2/catch.hpp>

#include "formats/pickle_scanner.hpp"
#include "formats/pickle_text.hpp"
#include "pickle_builder.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

pickle_scan_result scan(const bytes& b, issue_sink& issues, pickle_scan_options options = {}) {
  return scan_pickle(view(b), issues, options);
}

std::vector<std::string> qualified(const pickle_scan_result& r, global_safety safety) {
  std::vector<std::string> out;
  for (const auto& g : r.globals)
    if (g.safety == safety)
      out.push_back(g.module + "." + g.name);
  return out;
}

} // namespace

TEST_CASE("pickle: global classification", "[pickle]") {
  CHECK(classify_global("collections", "OrderedDict") == global_safety::safe);
  CHECK(classify_global("torch._utils", "_rebuild_tensor_v2") == global_safety::safe);
  CHECK(classify_global("torch._utils", "_rebuild_parameter") == global_safety::safe);
  CHECK(classify_global("torch", "bfloat16") == global_safety::safe);
  CHECK(classify_global("torch", "FloatStorage") == global_safety::safe);
  CHECK(classify_global("os", "system") == global_safety::unsafe);
  CHECK(classify_global("os.path", "join") == global_safety::unsafe); // submodule
  CHECK(classify_global("posix", "system") == global_safety::unsafe);
  CHECK(classify_global("builtins", "eval") == global_safety::unsafe);
  CHECK(classify_global("__builtin__", "getattr") == global_safety::unsafe);
  CHECK(classify_global("torch", "serialization.load") == global_safety::unsafe); // dotted name
  CHECK(classify_global("torch.serialization", "load") == global_safety::unsafe);
  CHECK(classify_global("functools", "partial") == global_safety::unsafe);
  CHECK(classify_global("operator", "attrgetter") == global_safety::unsafe);
  CHECK(classify_global("numpy.f2py.crackfortran", "x") == global_safety::unsafe);
  CHECK(classify_global("ossify", "x") == global_safety::unlisted); // prefix, not a submodule
  CHECK(classify_global("builtins", "print") == global_safety::unlisted);
  CHECK(classify_global("__torch__.MyModule", "x") == global_safety::unlisted);
  CHECK(classify_global("__torch__.MyModule", "x", true) == global_safety::safe);
  CHECK(classify_global("torch.jit._pickle", "build_intlist") == global_safety::unlisted);
  CHECK(classify_global("torch.jit._pickle", "build_intlist", true) == global_safety::safe);
}

TEST_CASE("pickle: protocol-0 text decoders", "[pickle]") {
  CHECK(decode_string_opcode("'\\x6fs'") == std::optional<std::string>("os"));
  CHECK(decode_string_opcode("\"a\\n\\101\"") == std::optional<std::string>("a\nA"));
  CHECK_FALSE(decode_string_opcode("os"));
  CHECK_FALSE(decode_string_opcode("'\\x6'"));
  CHECK(decode_raw_unicode_escape("\\u006fs") == std::optional<std::string>("os"));
  CHECK(decode_raw_unicode_escape("\\\\u006f") == std::optional<std::string>("\\\\u006f"));
  CHECK(decode_raw_unicode_escape("\xe9") == std::optional<std::string>("\xc3\xa9"));
  CHECK(parse_decimal_int(" -12_3 ", false) == std::optional<std::int64_t>(-123));
  CHECK(parse_decimal_int("5L", true) == std::optional<std::int64_t>(5));
  CHECK_FALSE(parse_decimal_int("1__0", false));
  CHECK_FALSE(parse_decimal_int("99999999999999999999", false));
}

TEST_CASE("pickle: a torch state dict yields named tensors and storages", "[pickle]") {
  pickle_builder p;
  p.proto(2).global("collections", "OrderedDict").empty_tuple().reduce().binput(0).mark();
  p.unicode("layer.weight").tensor("HalfStorage", "0", 6, {2, 3});
  p.unicode("layer.bias").tensor("FloatStorage", "1", 2, {2});
  p.setitems().stop();
  issue_sink issues;
  const auto r = scan(p.build(), issues);
  CHECK(issues.items().empty());
  CHECK(r.well_formed);
  CHECK(r.highest_protocol == 2);
  REQUIRE(r.tensors.size() == 2);
  CHECK(r.tensors[0].name == "layer.weight");
  CHECK(r.tensors[0].dtype == "F16");
  CHECK(r.tensors[0].shape == std::vector<std::uint64_t>{2, 3});
  CHECK(r.tensors[0].stride == std::vector<std::uint64_t>{3, 1});
  CHECK(r.tensors[0].storage_key == "0");
  CHECK(r.tensors[1].name == "layer.bias");
  REQUIRE(r.storages.size() == 2);
  CHECK(r.storages[1].storage_type == "FloatStorage");
  CHECK(r.storages[1].numel == 2);
  CHECK(qualified(r, global_safety::unlisted).empty());
  CHECK(qualified(r, global_safety::unsafe).empty());
}

TEST_CASE("pickle: nested state_dict paths", "[pickle]") {
  pickle_builder p;
  p.proto(2).empty_dict().mark().unicode("global_step").binint(100).unicode("state_dict");
  p.empty_dict().mark().unicode("model.w").tensor("FloatStorage", "0", 4, {4}).setitems();
  p.setitems().stop();
  issue_sink issues;
  const auto r = scan(p.build(), issues);
  CHECK_FALSE(issues.has_errors());
  REQUIRE(r.tensors.size() == 1);
  CHECK(r.tensors[0].name == "state_dict.model.w");
}

TEST_CASE("pickle: unsafe and unlisted globals", "[pickle]") {
  issue_sink issues;
  auto r = scan(pickle_builder().proto(2).global("os", "system").unicode("id").op(0x85).reduce()
                  .stop().build(),
                issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(qualified(r, global_safety::unsafe) == std::vector<std::string>{"os.system"});

  // Not a known gadget, but not known to be weights either: refused, as weights_only refuses it.
  issue_sink unlisted;
  r = scan(pickle_builder().proto(2).global("mylib", "Thing").empty_tuple().reduce().stop().build(),
           unlisted);
  CHECK(unlisted.has("PICKLE_UNLISTED_GLOBAL"));
  CHECK_FALSE(unlisted.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(unlisted.has_errors());
  CHECK(qualified(r, global_safety::unlisted) == std::vector<std::string>{"mylib.Thing"});
}

TEST_CASE("pickle: STACK_GLOBAL resolves through the memo", "[pickle]") {
  issue_sink issues;
  // Strings are memoized, a decoy is pushed between, then fetched back with BINGET.
  const auto r = scan(pickle_builder().proto(4).unicode("subprocess").op(0x94).unicode("decoy")
                        .op(0x94).op('0').unicode("Popen").binput(7).op('0').binget(0).binget(7)
                        .stack_global().stop().build(),
                      issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(qualified(r, global_safety::unsafe) == std::vector<std::string>{"subprocess.Popen"});
}

TEST_CASE("pickle: unresolvable STACK_GLOBAL is unsafe", "[pickle]") {
  issue_sink issues;
  scan(pickle_builder().proto(4).binint1(1).unicode("system").stack_global().stop().build(),
       issues);
  CHECK(issues.has("PICKLE_UNRESOLVED_GLOBAL"));
  CHECK(issues.has_errors());
}

TEST_CASE("pickle: protocol-0 escapes cannot hide a module", "[pickle]") {
  issue_sink issues;
  // S'\x6fs' is "os"; V\u0073ystem is "system".
  const auto r = scan(pickle_builder().raw("S'\\x6fs'\n").raw("V\\u0073ystem\n").stack_global()
                        .stop().build(),
                      issues);
  CHECK(qualified(r, global_safety::unsafe) == std::vector<std::string>{"os.system"});
}

TEST_CASE("pickle: INST and OBJ are imports too", "[pickle]") {
  issue_sink inst;
  scan(pickle_builder().mark().unicode("ls").raw("isubprocess\ncall\n").stop().build(), inst);
  CHECK(inst.has("PICKLE_UNSAFE_GLOBAL"));
  issue_sink obj;
  scan(pickle_builder().mark().global("builtins", "exec").unicode("1").op('o').stop().build(), obj);
  CHECK(obj.has("PICKLE_UNSAFE_GLOBAL"));
}

TEST_CASE("pickle: every pickle of a concatenated stream is scanned", "[pickle]") {
  pickle_builder p;
  p.proto(2).binint1(1).stop();
  p.proto(2).global("os", "system").stop();
  issue_sink issues;
  const auto r = scan(p.build(), issues);
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(r.roots.size() == 2);
}

TEST_CASE("pickle: trailing garbage is a warning, globals in it still count", "[pickle]") {
  pickle_builder p;
  p.proto(2).binint1(1).stop().global("os", "system").op(0xff);
  issue_sink issues;
  const auto r = scan(p.build(), issues);
  CHECK(issues.has("PICKLE_TRAILING_DATA"));
  CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
  CHECK(r.roots.size() == 1);
}

TEST_CASE("pickle: malformed streams", "[pickle]") {
  auto code_for = [](const bytes& b) {
    issue_sink issues;
    scan_pickle(view(b), issues);
    REQUIRE(issues.has_errors());
    for (const auto& i : issues.items())
      if (i.level == severity::error)
        return i.code;
    return std::string();
  };
  CHECK(code_for(bytes{}) == "PICKLE_EMPTY");
  CHECK(code_for(pickle_builder().proto(2).binint1(1).build()) == "PICKLE_TRUNCATED");
  CHECK(code_for(pickle_builder().proto(2).op('X').raw("\xff\xff\xff\x7f").build()) ==
        "PICKLE_TRUNCATED");
  CHECK(code_for(pickle_builder().proto(2).op(0xfe).build()) == "PICKLE_UNKNOWN_OPCODE");
  CHECK(code_for(pickle_builder().proto(2).op('0').stop().build()) == "PICKLE_STACK_UNDERFLOW");
  CHECK(code_for(pickle_builder().proto(2).stop().build()) == "PICKLE_STACK_UNDERFLOW");
  CHECK(code_for(pickle_builder().proto(2).op('t').stop().build()) == "PICKLE_MARK_MISSING");
  CHECK(code_for(pickle_builder().proto(2).binget(3).stop().build()) == "PICKLE_MEMO_MISSING");
  CHECK(code_for(pickle_builder().proto(6).build()) == "PICKLE_UNSUPPORTED_PROTOCOL");
  CHECK(code_for(pickle_builder().raw("S'unterminated\n").stop().build()) ==
        "PICKLE_INVALID_ARGUMENT");
  CHECK(code_for(pickle_builder().raw("gx\n").stop().build()) == "PICKLE_INVALID_ARGUMENT");
  CHECK(code_for(pickle_builder().raw("cos\nsystem").build()) == "PICKLE_TRUNCATED");
}

TEST_CASE("pickle: hard limits stop hostile streams", "[pickle]") {
  pickle_builder p;
  p.proto(2);
  for (int i = 0; i < 200; ++i)
    p.op(']');
  pickle_scan_options options;
  options.max_stack = 100;
  issue_sink stack;
  scan(p.build(), stack, options);
  CHECK(stack.has("PICKLE_LIMIT_EXCEEDED"));

  options = {};
  options.max_ops = 50;
  issue_sink ops;
  scan(p.build(), ops, options);
  CHECK(ops.has("PICKLE_LIMIT_EXCEEDED"));

  pickle_builder memo;
  memo.proto(4).op(']');
  for (int i = 0; i < 20; ++i)
    memo.op(0x94);
  options = {};
  options.max_memo = 10;
  issue_sink memo_issues;
  scan(memo.build(), memo_issues, options);
  CHECK(memo_issues.has("PICKLE_LIMIT_EXCEEDED"));
}

TEST_CASE("pickle: self-referencing containers do not hang naming", "[pickle]") {
  // l = []; l.append(l) via DUP, then a dict holding it.
  issue_sink issues;
  const auto r = scan(pickle_builder().proto(2).empty_dict().unicode("k").op(']').op('2').op('a')
                        .op('s').stop().build(),
                      issues);
  CHECK_FALSE(issues.has_errors());
  CHECK(r.well_formed);
}

TEST_CASE("pickle: extension codes, out-of-band buffers, odd persistent ids", "[pickle]") {
  issue_sink ext;
  scan(pickle_builder().proto(2).op(0x82).byte(1).stop().build(), ext);
  CHECK(ext.has("PICKLE_EXTENSION_CODE"));
  issue_sink buffer;
  scan(pickle_builder().proto(5).op(0x97).stop().build(), buffer);
  CHECK(buffer.has("PICKLE_OUT_OF_BAND_BUFFER"));
  issue_sink pid;
  scan(pickle_builder().proto(2).unicode("x").op('Q').stop().build(), pid);
  CHECK(pid.has("PICKLE_UNKNOWN_PERSISTENT_ID"));
}

TEST_CASE("pickle: malformed tensor rebuilds and conflicting storages", "[pickle]") {
  issue_sink bad;
  scan(pickle_builder().proto(2).global("torch._utils", "_rebuild_tensor_v2").mark().binint1(1)
         .tuple().reduce().stop().build(),
       bad);
  CHECK(bad.has("TORCH_MALFORMED_TENSOR"));

  // A 65-dimensional size tuple is no tensor shape (and is never copied per REDUCE).
  pickle_builder rank;
  rank.proto(2).global("torch._utils", "_rebuild_tensor_v2").mark();
  rank.storage("FloatStorage", "0", 1).binint1(0).mark();
  for (int i = 0; i < 65; ++i)
    rank.binint1(1);
  rank.tuple().binput(1).binget(1).op(0x89).tuple().reduce().stop();
  issue_sink too_many_dims;
  const auto r = scan(rank.build(), too_many_dims);
  CHECK(too_many_dims.has("TORCH_MALFORMED_TENSOR"));
  CHECK(r.tensors.empty());

  pickle_builder p;
  p.proto(2).empty_dict().mark().unicode("a").tensor("FloatStorage", "0", 4, {4});
  p.unicode("b").tensor("HalfStorage", "0", 4, {4}).setitems().stop();
  issue_sink conflict;
  scan(p.build(), conflict);
  CHECK(conflict.has("TORCH_STORAGE_CONFLICT"));
}

TEST_CASE("pickle: root summaries for torch's legacy header", "[pickle]") {
  pickle_builder p;
  // LONG1 of 0x1950A86A20F9469CFC6C, then 1001, then ['0', '1'].
  p.proto(2).op(0x8a).byte(10).raw("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19").stop();
  p.proto(2).op('M').raw("\xe9\x03").stop();
  p.proto(2).op(']').mark().unicode("0").unicode("1").op('e').stop();
  issue_sink issues;
  const auto r = scan(p.build(), issues);
  REQUIRE(r.roots.size() == 3);
  CHECK(r.roots[0].integer_le == std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10));
  CHECK(r.roots[1].integer_le == std::string("\xe9\x03", 2));
  CHECK(r.roots[2].strings == std::vector<std::string>{"0", "1"});
}

namespace {

struct named_global {
  std::string_view module;
  std::string_view name;
};

// Code-execution gadgets from picklescan's deny list and published advisories, spelled as the
// exploits spell them (dotted names are attribute paths protocol 4 resolves).
constexpr named_global gadgets[] = {
  {"torch.hub", "load"},
  {"torch", "hub.load"},
  {"torch.hub", "load_state_dict_from_url"},
  {"idlelib.pyshell", "ModifiedInterpreter"},
  {"idlelib.pyshell", "ModifiedInterpreter.runcode"},
  {"idlelib.run", "Executive.runcode"},
  {"doctest", "debug_script"},
  {"trace", "Trace"},
  {"trace", "Trace.runctx"},
  {"pandas", "read_pickle"},
  {"pandas.io.pickle", "read_pickle"},
  {"torch._inductor.codecache", "compile_file"},
  {"torch._dynamo.guards", "GuardBuilder.get"},
  {"torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression"},
  {"torch.jit.unsupported_tensor_ops", "execWrapper"},
  {"torch.utils._config_module", "ConfigModule.load_config"},
  {"torch.utils.bottleneck.__main__", "run_cprofile"},
  {"torch.utils.data.datapipes.utils.decoder", "basichandlers"},
  {"torch.storage", "_load_from_bytes"},
  {"code", "InteractiveInterpreter.runcode"},
  {"cProfile", "runctx"},
  {"profile", "Profile.run"},
  {"lib2to3.pgen2.pgen", "ParserGenerator.make_label"},
  {"ensurepip", "_run_pip"},
  {"distutils.file_util", "write_file"},
  {"numpy.testing._private.utils", "runstring"},
  {"asyncio.unix_events", "_UnixSubprocessTransport._start"},
};

bytes calls_by_global(const named_global& g) {
  return pickle_builder().proto(2).global(g.module, g.name).unicode("x").op(0x85).reduce().stop()
    .build();
}

bytes calls_by_stack_global(const named_global& g) {
  return pickle_builder().proto(4).unicode(g.module).op(0x94).unicode(g.name).op(0x94)
    .stack_global().unicode("x").op(0x85).reduce().stop().build();
}

} // namespace

TEST_CASE("pickle: published gadgets are unsafe, imported either way", "[pickle]") {
  for (const auto& g : gadgets) {
    const auto name = std::string(g.module) + "." + std::string(g.name);
    INFO(name);
    CHECK(classify_global(g.module, g.name) == global_safety::unsafe);
    CHECK(classify_global(g.module, g.name, true) == global_safety::unsafe); // TorchScript too
    for (const auto& pickle : {calls_by_global(g), calls_by_stack_global(g)}) {
      issue_sink issues;
      const auto r = scan(pickle, issues);
      CHECK(issues.has("PICKLE_UNSAFE_GLOBAL"));
      CHECK(qualified(r, global_safety::unsafe) == std::vector<std::string>{name});
    }
  }
}

TEST_CASE("pickle: the allow list holds what weight files reference, exactly", "[pickle]") {
  const named_global allowed[] = {
    {"collections", "OrderedDict"}, {"collections", "defaultdict"}, {"collections", "Counter"},
    {"torch._utils", "_rebuild_tensor_v2"}, {"torch._utils", "_rebuild_parameter"},
    {"torch._tensor", "_rebuild_from_type_v2"}, {"torch", "HalfStorage"},
    {"torch.cuda", "FloatStorage"}, {"torch", "FloatTensor"}, {"torch", "float8_e4m3fn"},
    {"torch", "per_tensor_affine"}, {"torch", "Size"}, {"torch.nn.parameter", "Parameter"},
    {"torch.torch_version", "TorchVersion"}, {"numpy.core.multiarray", "scalar"},
    {"numpy.core.multiarray", "_reconstruct"}, {"numpy._core.multiarray", "scalar"},
    {"numpy", "dtype"}, {"numpy", "ndarray"}, {"_codecs", "encode"}, {"builtins", "set"},
    {"__builtin__", "set"}, {"__builtin__", "list"},
    {"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint"},
    {"pytorch_lightning.callbacks", "model_checkpoint"},
    {"torch.nn.modules.container", "ParameterDict"},
  };
  for (const auto& g : allowed) {
    INFO(g.module << "." << g.name);
    CHECK(classify_global(g.module, g.name) == global_safety::safe);
  }
  // Near misses: an attribute of an allowed name, a rebuild function no allow list names, a
  // whole pickled module (what torch.save(model) writes), a class defined by a training script.
  const named_global unlisted[] = {
    {"collections", "OrderedDict.fromkeys"}, {"numpy.core.multiarray", "scalar.x"},
    {"torch._utils", "_rebuild_xla_tensor"}, {"torch.nn.modules.linear", "Linear"},
    {"__main__", "Net"}, {"pytorch_lightning.trainer", "Trainer"}, {"builtins", "type"},
    {"copyreg", "_reconstructor"}, {"torchvision.models.resnet", "ResNet"}, {"builtins", "bytes"},
  };
  for (const auto& g : unlisted) {
    INFO(g.module << "." << g.name);
    CHECK(classify_global(g.module, g.name) == global_safety::unlisted);
  }
  CHECK(to_string(global_safety::unlisted) == "unlisted");
}

TEST_CASE("pickle: unmarked protocol 0 and 1 streams are recognised by their first opcodes", "[pickle]") {
  // (dp0 ... and }q\0( ...: what pickle.dumps of a dict writes at protocols 0 and 1.
  CHECK(looks_like_pickle(view(from_string("(dp0\nVweights\np1\n(lp2\nF0.5\naF-1.25\na"))));
  CHECK(looks_like_pickle(view(lit("}q\x00(X\x07\x00\x00\x00weightsq\x01]q\x02(G?"))));
  CHECK(looks_like_pickle(view(from_string("ccollections\nOrderedDict\np0\n(tRp1\n."))));
  // A long first module name fills a 64-byte sniff on its own.
  CHECK(looks_like_pickle(view(from_string("cpytorch_lightning.callbacks.model_checkpoint\nModelCheckpoint\n"))));
  CHECK(looks_like_pickle(view(pickle_builder().proto(2).stop().build())));
  // Text and other formats that start with the same bytes.
  CHECK_FALSE(looks_like_pickle(view(from_string("(c) 2024 Acme Corp\nAll rights reserved.\nLicensed"))));
  CHECK_FALSE(looks_like_pickle(view(from_string("class Tiny(Module):\n  __parameters__ = []\n"))));
  CHECK_FALSE(looks_like_pickle(view(from_string("(see the README)"))));
  CHECK_FALSE(looks_like_pickle(view(from_string("just some text, not a model at all"))));
  CHECK_FALSE(looks_like_pickle(view(from_string("{\"a\": 1}"))));
  CHECK_FALSE(looks_like_pickle(view(from_string("("))));
  CHECK_FALSE(looks_like_pickle(view(bytes{})));
}
