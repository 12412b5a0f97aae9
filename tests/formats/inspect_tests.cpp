#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include "bytes.hpp"
#include "formats/architecture.hpp"
#include "formats/identify.hpp"
#include "formats/inspect.hpp"
#include "pickle_builder.hpp"
#include "real_pickles.hpp"
#include "torch_fixture.hpp"
#include "zip_builder.hpp"

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

tensor_info t(std::string name, std::vector<std::uint64_t> shape, std::string dtype = "F16") {
  tensor_info out;
  out.name = std::move(name);
  out.shape = std::move(shape);
  out.dtype = std::move(dtype);
  out.element_count = 1;
  for (auto d : out.shape)
    out.element_count *= d;
  out.byte_size = out.element_count * (out.dtype == "F32" ? 4 : 2);
  return out;
}

std::vector<tensor_info> unet(std::string p, std::uint64_t channels, std::uint64_t context,
                              std::optional<std::uint64_t> adm = std::nullopt) {
  std::vector<tensor_info> out;
  out.push_back(t(p + "input_blocks.0.0.weight", {channels, 4, 3, 3}));
  out.push_back(t(p + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {channels, context}));
  for (int i = 0; i < 6; ++i)
    out.push_back(t(p + "output_blocks." + std::to_string(i) + ".0.weight", {channels}));
  if (adm)
    out.push_back(t(p + "label_emb.0.0.weight", {1280, *adm}));
  return out;
}

architecture_result detect(const std::vector<tensor_info>& tensors, const metadata_map& m = {}) {
  return detect_architecture(tensors, m);
}

std::filesystem::path temp_file(const std::string& name, const bytes& content) {
  const auto path = std::filesystem::temp_directory_path() / ("modeld_formats_" + name);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(content.data()),
                                              static_cast<std::streamsize>(content.size()));
  return path;
}

} // namespace

TEST_CASE("identify: format by content, safetensors first", "[identify]") {
  // A 640-byte header: its length prefix begins 0x80 0x02, which also reads as a pickle.
  std::string header = R"({"__metadata__":{"k":"v"}})";
  header.resize(640, ' ');
  const auto st = safetensors_file(header, 0);
  REQUIRE(st[0] == 0x80);
  REQUIRE(st[1] == 0x02);
  CHECK(detect_format(view(st)) == model_format::safetensors);
  CHECK(detect_format(view(from_string("GGUF\x03"))) == model_format::gguf);
  CHECK(detect_format(view(from_string("PK\x03\x04"))) == model_format::pytorch_zip);
  CHECK(detect_format(view(bytes{0x80, 0x02, '.'})) == model_format::pickle);
  CHECK(detect_format(view(from_string("hello world"))) == model_format::unknown);
  CHECK(formats_for_extension(".gguf") == std::vector<model_format>{model_format::gguf});
  CHECK(formats_for_extension(".txt").empty());
}

TEST_CASE("inspect: file-level issues", "[inspect]") {
  auto r = inspect_file("/nonexistent/modeld/x.safetensors");
  CHECK(has_code(r.issues, "FILE_NOT_FOUND"));
  CHECK_FALSE(r.is_valid());
  r = inspect_file(std::filesystem::temp_directory_path());
  CHECK(has_code(r.issues, "FILE_UNREADABLE"));
  r = inspect_bytes({}, "empty.safetensors");
  CHECK(has_code(r.issues, "FILE_EMPTY"));
  r = inspect_bytes(view(from_string("just some text")), "notes.bin");
  CHECK(has_code(r.issues, "UNKNOWN_FORMAT"));
  CHECK(r.format == model_format::unknown);

  // Unrecognisable content with a single-format extension gets that parser's precise error.
  bytes huge_header;
  put<std::uint64_t>(huge_header, 200'000'000);
  put_str(huge_header, "{}");
  r = inspect_bytes(view(huge_header), "big.safetensors");
  CHECK(has_code(r.issues, "SAFETENSORS_HEADER_TOO_LARGE"));
  r = inspect_bytes(view(from_string("GGML old file")), "old.gguf");
  CHECK(has_code(r.issues, "GGUF_BAD_MAGIC"));
}

TEST_CASE("inspect: extension mismatch is a warning and the content wins", "[inspect]") {
  const auto st = safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  auto r = inspect_bytes(view(st), "model.ckpt");
  CHECK(r.format == model_format::safetensors);
  CHECK(has_code(r.issues, "EXTENSION_MISMATCH"));
  CHECK(r.is_valid());

  const auto evil = pickle_builder().proto(2).global("os", "system").stop().build();
  r = inspect_bytes(view(evil), "model.safetensors");
  CHECK(r.format == model_format::pickle);
  CHECK(has_code(r.issues, "EXTENSION_MISMATCH"));
  CHECK(r.security.scanned);
  CHECK(r.security.unsafe_globals == std::vector<std::string>{"os.system"});
  CHECK_FALSE(r.is_valid());
}

TEST_CASE("inspect: too many issues are capped but validity holds", "[inspect]") {
  std::string header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]";
  for (int i = 0; i < 1100; ++i)
    header += ",\"x" + std::to_string(i) + "\":1";
  header += "},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[5,6]}}";
  const auto r = inspect_bytes(view(safetensors_file(header, 6)), "m.safetensors");
  CHECK(has_code(r.issues, "TOO_MANY_ISSUES"));
  CHECK(r.issues.size() <= issue_sink::max_issues + 2);
  CHECK(has_code(r.issues, "SAFETENSORS_INVALID_OFFSET"));
  CHECK_FALSE(r.is_valid());
}

TEST_CASE("architecture: diffusion families", "[architecture]") {
  CHECK(detect(unet("model.diffusion_model.", 320, 768)).architecture == "sd1");
  CHECK(detect(unet("model.diffusion_model.", 320, 1024)).architecture == "sd2");
  CHECK(detect(unet("model.diffusion_model.", 320, 2048, 2816)).architecture == "sdxl");
  CHECK(detect(unet("model.diffusion_model.", 384, 1280, 2560)).architecture == "sdxl_refiner");
  CHECK(detect(unet("", 320, 768)).type == "unet");

  auto checkpoint = unet("model.diffusion_model.", 320, 2048, 2816);
  checkpoint.push_back(t("first_stage_model.decoder.conv_in.weight", {512, 4, 3, 3}, "F32"));
  checkpoint.push_back(t("conditioner.embedders.0.transformer.text_model.x", {768}));
  checkpoint.push_back(t("conditioner.embedders.1.model.y", {1280}));
  const auto r = detect(checkpoint);
  CHECK(r.architecture == "sdxl");
  CHECK(r.type == "checkpoint");
  REQUIRE(r.components.size() == 4);
  CHECK(r.components[0].name == "text_encoder");
  CHECK(r.components[1].name == "text_encoder_2");
  CHECK(r.components[2].name == "unet");
  CHECK(r.components[2].tensor_count == 9);
  CHECK(r.components[3].name == "vae");
  CHECK(r.components[3].dtypes == std::vector<std::string>{"F32"});

  // Lightning .ckpt nesting is looked through.
  CHECK(detect(unet("state_dict.model.diffusion_model.", 320, 768)).architecture == "sd1");

  std::vector<tensor_info> sd3{t("model.diffusion_model.joint_blocks.0.context_block.attn.qkv.weight", {1})};
  for (int i = 0; i < 6; ++i)
    sd3.push_back(t("model.diffusion_model.x" + std::to_string(i), {1}));
  CHECK(detect(sd3).architecture == "sd3");
  CHECK(detect({t("double_blocks.0.img_attn.norm.key_norm.scale", {128}, "BF16")}).architecture == "flux");
}

TEST_CASE("architecture: other model kinds and precision", "[architecture]") {
  auto r = detect({t("lora_unet_down_blocks_0.lora_down.weight", {4, 320}),
                   t("lora_te1_text_model.lora_up.weight", {768, 4})});
  CHECK(r.architecture == "lora");
  CHECK(r.type == "lora");
  CHECK(r.components.size() == 2);
  CHECK(detect({t("base_model.model.q.lora_A.weight", {4, 8})}).architecture == "lora");
  CHECK(detect({t("control_model.input_hint_block.0.weight", {16})}).type == "controlnet");
  CHECK(detect({t("encoder.conv_in.weight", {1}), t("decoder.conv_in.weight", {1})}).architecture == "vae");
  CHECK(detect({t("text_model.encoder.layers.0.self_attn.k_proj.weight", {768, 768})}).architecture == "clip");
  CHECK(detect({t("encoder.block.0.layer.0.SelfAttention.k.weight", {1})}).architecture == "t5");
  r = detect({t("model.layers.0.self_attn.q_proj.weight", {8, 8}, "BF16"),
              t("lm_head.weight", {8, 8}, "F32")});
  CHECK(r.architecture == "llama");
  CHECK(r.type == "llm");
  CHECK(r.precision == "fp32"); // F32 holds more bytes than BF16
  CHECK(detect({t("blk.0.attn_q.weight", {1})}, {{"general.architecture", "qwen2"}}).type == "llm");
  CHECK(detect({t("x", {1})}).architecture == "unknown");
}

TEST_CASE("inspect: comprehensive safetensors file", "[inspect]") {
  std::string header = R"({"__metadata__":{"modelspec.title":"demo","ss_network_dim":"4"},)"
                       R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                       R"("b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]}})";
  auto file = safetensors_file(header, 20);
  const auto data = 8 + header.size();
  const float values[] = {1.0f, NAN, 2.0f, INFINITY};
  std::memcpy(file.data() + data, values, sizeof values);
  const auto path = temp_file("demo.safetensors", file);
  std::vector<std::string> stages;
  inspect_options options;
  options.level = validation_level::comprehensive;
  options.progress = [&](std::uint64_t, std::uint64_t, std::string_view stage) {
    stages.emplace_back(stage);
  };
  const auto r = inspect_file(path, options);
  std::filesystem::remove(path);
  CHECK(r.format == model_format::safetensors);
  CHECK(r.file.size_bytes == file.size());
  CHECK(r.file.extension == ".safetensors");
  REQUIRE(r.checksums);
  CHECK(r.checksums->sha256.size() == 64);
  CHECK(r.checksums->autov2 == r.checksums->sha256.substr(0, 10));
  CHECK(r.checksums->tensor_sha256.size() == 64);
  REQUIRE(r.numerics);
  CHECK(r.numerics->nan_count == 1);
  CHECK(r.numerics->inf_count == 1);
  CHECK(has_code(r.issues, "TENSOR_NAN_VALUES"));
  CHECK(has_code(r.issues, "TENSOR_INF_VALUES"));
  CHECK(r.embedded.size() == 2);
  CHECK(r.parameter_count == 6);
  CHECK(r.precision == "fp32");
  CHECK_FALSE(stages.empty());
}

TEST_CASE("inspect: cancellation", "[inspect]") {
  const auto st = safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  const std::atomic<bool> cancel{true};
  inspect_options options;
  options.level = validation_level::comprehensive;
  options.cancel = &cancel;
  const auto r = inspect_bytes(view(st), "a.safetensors", options);
  CHECK(r.cancelled);
  CHECK(has_code(r.issues, "SCAN_CANCELLED"));
  CHECK_FALSE(r.checksums);
}

TEST_CASE("inspect: torch fixtures end to end", "[inspect][fixtures]") {
  const auto path = torch_fixture("state_dict.pt");
  inspect_options options;
  options.level = validation_level::comprehensive;
  const auto r = inspect_file(path, options);
  CHECK(r.format == model_format::pytorch_zip);
  REQUIRE(r.numerics);
  CHECK(r.numerics->nan_count == 1);
  CHECK(r.numerics->inf_count == 2);
  CHECK_FALSE(has_code(r.issues, "ZIP_CRC_MISMATCH"));
  CHECK(r.security.scanned);
  CHECK(r.security.unsafe_globals.empty());

  const auto legacy = torch_fixture("legacy.pt");
  const auto scripted = torch_fixture("scripted.pt");
  const auto ckpt = torch_fixture("sd_style.ckpt");
  CHECK(inspect_file(legacy).format == model_format::pickle);
  CHECK(inspect_file(scripted).format == model_format::torchscript);
  const auto sd = inspect_file(ckpt);
  CHECK(sd.is_valid());
  CHECK(sd.tensors.size() == 3);
}

namespace {

bytes of(const std::string& s) { return from_string(s); }

// A torch.save archive as torch writes it (archive/ prefix) around `data_pkl`, which holds the
// tensors "w" (F32, 2x3) and "b" (F16, 2) before whatever else the test adds.
bytes ckpt_with(const std::function<void(pickle_builder&)>& extra) {
  pickle_builder p;
  p.proto(2).empty_dict().mark();
  p.unicode("w").tensor("FloatStorage", "0", 6, {2, 3});
  p.unicode("b").tensor("HalfStorage", "1", 2, {2});
  extra(p);
  p.setitems().stop();
  return make_zip({item("archive/data.pkl", p.build()), item("archive/byteorder", from_string("little")),
                   item("archive/data/0", bytes(24, 0)), item("archive/data/1", bytes(4, 0)),
                   item("archive/version", from_string("3\n"))});
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

} // namespace

TEST_CASE("inspect: a .ckpt that calls a published gadget is invalid and names it", "[inspect][security]") {
  const std::pair<std::string, std::string> gadgets[] = {
    {"torch.hub", "load"}, {"idlelib.pyshell", "ModifiedInterpreter"},
    {"doctest", "debug_script"}, {"trace", "Trace"}, {"pandas", "read_pickle"},
    {"pandas.io.pickle", "read_pickle"}, {"torch._inductor.codecache", "compile_file"},
    {"code", "InteractiveInterpreter"}, {"os", "system"},
  };
  for (const auto& [module, name] : gadgets) {
    const auto qualified = module + "." + name;
    INFO(qualified);
    const auto file = ckpt_with([&](pickle_builder& p) {
      p.unicode("payload").global(module, name).unicode("attacker/repo").op(0x85).reduce();
    });
    const auto r = inspect_bytes(view(file), "model.ckpt");
    CHECK(r.format == model_format::pytorch_zip);
    CHECK_FALSE(r.is_valid());
    CHECK(has_code(r.issues, "PICKLE_UNSAFE_GLOBAL"));
    CHECK(r.security.scanned);
    CHECK(r.security.unsafe_globals == std::vector<std::string>{qualified});
    CHECK(r.tensors.size() == 2); // the weights beside it are still described
  }

  // The real thing: torch.save of a state dict beside a torch.hub.load call.
  const auto hub = of(real::torch_hub_checkpoint);
  const auto r = inspect_bytes(view(hub), "sd-v1-5.ckpt");
  CHECK(r.format == model_format::pytorch_zip);
  CHECK_FALSE(r.is_valid());
  CHECK(has_code(r.issues, "PICKLE_UNSAFE_GLOBAL"));
  CHECK(r.security.unsafe_globals == std::vector<std::string>{"torch.hub.load"});
}

TEST_CASE("inspect: an unlisted global is an error and is named in unsafe_globals", "[inspect][security]") {
  const auto file = ckpt_with([](pickle_builder& p) {
    p.unicode("extra").global("mymodule", "Thing").empty_tuple().reduce();
    p.unicode("again").global("mymodule", "Thing").empty_tuple().reduce(); // named once
    p.unicode("evil").global("os", "system").unicode("id").op(0x85).reduce();
  });
  const auto r = inspect_bytes(view(file), "model.pt");
  CHECK_FALSE(r.is_valid());
  CHECK(has_code(r.issues, "PICKLE_UNLISTED_GLOBAL"));
  CHECK(has_code(r.issues, "PICKLE_UNSAFE_GLOBAL"));
  CHECK_FALSE(has_code(r.issues, "PICKLE_UNKNOWN_GLOBAL"));
  for (const auto& i : r.issues)
    if (i.code == "PICKLE_UNLISTED_GLOBAL")
      CHECK(i.level == severity::error);
  CHECK(sorted(r.security.unsafe_globals) == std::vector<std::string>{"mymodule.Thing", "os.system"});
  CHECK(r.security.unknown_globals == std::vector<std::string>{"mymodule.Thing"});
}

TEST_CASE("inspect: real torch.save and Lightning checkpoints stay valid", "[inspect][security]") {
  const auto sd = of(real::torch_save_state_dict);
  auto r = inspect_bytes(view(sd), "state.pt");
  CHECK(r.format == model_format::pytorch_zip);
  CHECK(r.is_valid());
  CHECK(r.security.scanned);
  CHECK(r.security.unsafe_globals.empty());
  CHECK(r.security.unknown_globals.empty());
  CHECK(r.tensors.size() == 4);

  // ModelCheckpoint as a callbacks key, numpy scalars, TorchVersion, defaultdict(list).
  const auto lightning = of(real::lightning_checkpoint);
  r = inspect_bytes(view(lightning), "sd-v1-4.ckpt");
  CHECK(r.format == model_format::pytorch_zip);
  CHECK(r.is_valid());
  for (const auto& i : r.issues)
    CHECK(i.code.rfind("PICKLE_", 0) != 0);
  CHECK(r.security.unsafe_globals.empty());
  REQUIRE(r.tensors.size() == 4);
  CHECK(r.tensors[0].name == "state_dict.model.diffusion_model.out.2.weight");
}

TEST_CASE("inspect: plain pickle.dump streams of every protocol are pickle and scanned", "[inspect][security]") {
  const std::string* plain[] = {&real::plain_protocol0, &real::plain_protocol1, &real::plain_protocol2,
                                &real::plain_protocol3, &real::plain_protocol4, &real::plain_protocol5};
  const std::string* evil[] = {&real::evil_protocol0, &real::evil_protocol1, &real::evil_protocol2,
                               &real::evil_protocol3, &real::evil_protocol4, &real::evil_protocol5};
  for (int protocol = 0; protocol < 6; ++protocol) {
    const auto good = of(*plain[protocol]);
    const auto bad = of(*evil[protocol]);
    // Catalog discovery decides on the first 64 bytes.
    CHECK(detect_format(view(good).first(64)) == model_format::pickle);
    CHECK(detect_format(view(bad).first(64)) == model_format::pickle);
    for (const char* name : {"model.bin", "model.pkl", "model.pth", "model.pt", "model.ckpt"}) {
      INFO("protocol " << protocol << ", " << name);
      auto r = inspect_bytes(view(good), name);
      CHECK(r.format == model_format::pickle);
      CHECK(r.security.scanned);
      CHECK(r.is_valid());
      CHECK(r.issues.empty());

      r = inspect_bytes(view(bad), name);
      CHECK(r.format == model_format::pickle);
      CHECK(r.security.scanned);
      CHECK_FALSE(r.is_valid());
      CHECK(has_code(r.issues, "PICKLE_UNSAFE_GLOBAL"));
      CHECK(r.security.unsafe_globals == std::vector<std::string>{"posix.system"});
    }
  }
}

TEST_CASE("identify: unmarked pickles do not disturb the other formats", "[identify]") {
  // ONNX: ir_version 8 then a producer name.
  CHECK(detect_format(view(bytes{0x08, 0x08, 0x12, 0x01, 'x'})) == model_format::onnx);
  CHECK(detect_format(view(from_string("PK\x03\x04"))) == model_format::pytorch_zip);
  CHECK(detect_format(view(from_string("GGUF\x03"))) == model_format::gguf);
  // A safetensors header is never taken for a pickle, whatever it starts with.
  const auto st = safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  CHECK(detect_format(view(st)) == model_format::safetensors);
  CHECK(detect_format(view(from_string("(c) 2024 Acme Corp\nAll rights reserved.\n"))) ==
        model_format::unknown);
  const auto r = inspect_bytes(view(from_string("class Net:\n  pass\n")), "notes.bin");
  CHECK(has_code(r.issues, "UNKNOWN_FORMAT"));
}
