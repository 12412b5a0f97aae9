// The load planner alone, over reports built here: no torch, no files.
#include "gpu/load_plan.hpp"
#include "tensor_fixtures.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace modeld;
using namespace modeld::gpu;
using modeld::test::stored_tensor;

// A report whose file holds `tensors` back to back, in one component "other".
formats::model_report report_of(std::vector<formats::tensor_info> tensors,
                                formats::model_format format = formats::model_format::safetensors) {
  formats::model_report report;
  report.format = format;
  std::uint64_t end = 0;
  for (const auto& t : tensors)
    end = std::max(end, t.data_end);
  report.file.size_bytes = end;
  report.tensors = std::move(tensors);
  report.components.push_back({"other", report.tensors.size(), 0, end, {}});
  return report;
}

// 64 bytes: an 8-byte F8 tensor, an 18-byte Q4_0 block (GGUF-style), a U16 pair, a F32 pair and
// 26 bytes of padding.
formats::model_report hand_made_report() {
  auto report = report_of({stored_tensor("fp8", "F8_E4M3", {8}, 8, 0, 8),
                           stored_tensor("quantized", "Q4_0", {32}, 32, 8, 18),
                           stored_tensor("counts", "U16", {2}, 2, 26, 4),
                           stored_tensor("pair", "F32", {2}, 2, 30, 8)});
  report.file.size_bytes = 64;
  return report;
}

load_request on(std::string device, load_dtype dtype = load_dtype::keep) {
  load_request request;
  request.device = std::move(device);
  request.dtype = dtype;
  return request;
}

load_request on_cpu(load_dtype dtype = load_dtype::keep) { return on("cpu", dtype); }

load_plan plan_of(const formats::model_report& report, const load_request& request) {
  auto planned = plan_load(report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    FAIL(*reason);
  return std::move(std::get<load_plan>(planned));
}

std::string refusal_of(const formats::model_report& report, const load_request& request) {
  auto planned = plan_load(report, request);
  REQUIRE(std::holds_alternative<std::string>(planned));
  return std::get<std::string>(planned);
}

std::vector<std::string> names_of(const load_plan& plan) {
  std::vector<std::string> names;
  for (const auto& tensor : plan)
    names.push_back(tensor.info->name);
  return names;
}

} // namespace

TEST_CASE("dtypes torch has, their labels, and which of them convert", "[load_plan][dtype]") {
  CHECK(tensor_dtype_of("F32") == tensor_dtype::f32);
  CHECK(tensor_dtype_of("BF16") == tensor_dtype::bf16);
  CHECK(tensor_dtype_of("BOOL") == tensor_dtype::boolean);
  CHECK(tensor_dtype_of("C128") == tensor_dtype::c128);
  for (const auto* lacking : {"F8_E4M3", "U16", "U32", "U64", "Q4_0", "QINT8", "nonsense"})
    CHECK_FALSE(tensor_dtype_of(lacking).has_value());

  CHECK(label_of(tensor_dtype::f64) == "fp64");
  CHECK(label_of(tensor_dtype::bf16) == "bf16");
  CHECK(label_of(tensor_dtype::i8) == "int8");
  CHECK(label_of(tensor_dtype::u8) == "uint8");
  CHECK(label_of(tensor_dtype::c64) == "complex64");

  for (const auto floating : {tensor_dtype::f64, tensor_dtype::f32, tensor_dtype::f16, tensor_dtype::bf16})
    CHECK(is_floating(floating));
  for (const auto other : {tensor_dtype::i64, tensor_dtype::u8, tensor_dtype::boolean, tensor_dtype::c64})
    CHECK_FALSE(is_floating(other));

  CHECK_FALSE(requested_dtype(load_dtype::keep).has_value());
  CHECK(requested_dtype(load_dtype::fp32) == tensor_dtype::f32);
  CHECK(requested_dtype(load_dtype::fp16) == tensor_dtype::f16);
  CHECK(requested_dtype(load_dtype::bf16) == tensor_dtype::bf16);
}

TEST_CASE("a requested dtype converts floating tensors only, and sizes them after conversion", "[load_plan][dtype]") {
  const auto report = report_of({stored_tensor("weight", "F32", {2, 3}, 6, 0, 24),
                                 stored_tensor("scale", "F64", {1}, 1, 24, 8),
                                 stored_tensor("steps", "I64", {2}, 2, 32, 16),
                                 stored_tensor("mask", "BOOL", {4}, 4, 48, 4),
                                 stored_tensor("phase", "C64", {1}, 1, 52, 8)});
  {
    const auto plan = plan_of(report, on_cpu());
    REQUIRE(plan.size() == 5);
    for (const auto& tensor : plan)
      CHECK_FALSE(tensor.converts());
    CHECK(plan[0].shape == std::vector<std::int64_t>{2, 3});
    CHECK(plan[0].device_bytes == 24);
    CHECK(device_bytes_of(plan) == 24 + 8 + 16 + 4 + 8);
  }
  const auto plan = plan_of(report, on_cpu(load_dtype::fp16));
  CHECK(plan[0].source == tensor_dtype::f32);
  CHECK(plan[0].target == tensor_dtype::f16);
  CHECK(plan[0].device_bytes == 12);
  CHECK(plan[0].label == "fp16");
  CHECK(plan[1].target == tensor_dtype::f16);
  CHECK(plan[1].device_bytes == 2);
  CHECK(plan[2].target == tensor_dtype::i64);
  CHECK(plan[3].target == tensor_dtype::boolean);
  CHECK(plan[4].target == tensor_dtype::c64); // complex is not floating: it keeps its type
  CHECK(device_bytes_of(plan) == 12 + 2 + 16 + 4 + 8);
  CHECK(std::get<std::uint64_t>(planned_bytes(report, on_cpu(load_dtype::fp16))) == device_bytes_of(plan));
  CHECK(plan_of(report, on_cpu(load_dtype::fp32))[1].device_bytes == 4);
}

TEST_CASE("dtypes torch lacks travel as raw bytes; converting them is refused", "[load_plan][dtype]") {
  const auto report = hand_made_report();
  const auto plan = plan_of(report, on_cpu());
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].source == tensor_dtype::u8);
  CHECK(plan[0].target == tensor_dtype::u8);
  CHECK(plan[0].shape == std::vector<std::int64_t>{8});
  CHECK(plan[0].label == "fp8");
  CHECK(plan[1].shape == std::vector<std::int64_t>{18}); // the Q4_0 block's bytes, not its 32 elements
  CHECK(plan[1].label == "q4_0");
  CHECK(plan[2].label == "uint16");
  CHECK(plan[3].target == tensor_dtype::f32);
  CHECK(device_bytes_of(plan) == 38);
  CHECK(dominant_dtype(plan) == "fp32"); // raw bytes are never floating tensors

  CHECK_THAT(refusal_of(report, on_cpu(load_dtype::fp16)),
             Catch::Contains("\"fp8\"") && Catch::Contains("F8_E4M3") && Catch::Contains("cannot be converted to fp16") &&
               Catch::Contains("dtype auto"));
  auto no_fp8 = report;
  no_fp8.tensors.erase(no_fp8.tensors.begin());
  CHECK_THAT(refusal_of(no_fp8, on_cpu(load_dtype::fp32)), Catch::Contains("Q4_0"));
  no_fp8.tensors.erase(no_fp8.tensors.begin());
  // U16 is an integer: it keeps its bytes whatever the request; the F32 pair becomes fp16.
  const auto converted = plan_of(no_fp8, on_cpu(load_dtype::fp16));
  CHECK(converted[0].target == tensor_dtype::u8);
  CHECK(converted[1].target == tensor_dtype::f16);
  CHECK(std::get<std::uint64_t>(planned_bytes(no_fp8, on_cpu(load_dtype::fp16))) == 4 + 4);
}

TEST_CASE("tensors whose shape and bytes disagree are refused", "[load_plan][shape]") {
  CHECK_THAT(refusal_of(report_of({stored_tensor("w", "F32", {2, 3}, 6, 0, 20)}), on_cpu()),
             Catch::Contains("\"w\"") && Catch::Contains("20 bytes do not hold 6 elements of F32"));
  CHECK_THAT(refusal_of(report_of({stored_tensor("w", "F32", {2, 3}, 5, 0, 24)}), on_cpu()),
             Catch::Contains("do not hold 6 elements"));
  CHECK_THAT(refusal_of(report_of({stored_tensor("w", "F32", {std::uint64_t{1} << 63, 1}, 0, 0, 8)}), on_cpu()),
             Catch::Contains("impossible shape"));
  CHECK_THAT(refusal_of(report_of({stored_tensor("w", "F32", {std::uint64_t{1} << 40, std::uint64_t{1} << 40}, 0, 0, 8)}),
                        on_cpu()),
             Catch::Contains("impossible shape"));
  const auto empty = plan_of(report_of({stored_tensor("w", "F32", {0, 5}, 0, 0, 0)}), on_cpu());
  CHECK(empty[0].device_bytes == 0);
}

TEST_CASE("GGUF shapes are reversed into torch's order", "[load_plan][shape]") {
  auto report = report_of({stored_tensor("w", "F16", {4, 2, 3}, 24, 0, 48)}, formats::model_format::gguf);
  CHECK(plan_of(report, on_cpu())[0].shape == std::vector<std::int64_t>{3, 2, 4});
  report.format = formats::model_format::safetensors;
  CHECK(plan_of(report, on_cpu())[0].shape == std::vector<std::int64_t>{4, 2, 3});
}

TEST_CASE("components select the tensors formats counts under them", "[load_plan][components]") {
  auto report = report_of({stored_tensor("model.diffusion_model.in.weight", "F16", {2}, 2, 0, 4),
                           stored_tensor("first_stage_model.decoder.weight", "F16", {2}, 2, 4, 4),
                           stored_tensor("cond_stage_model.token.weight", "F16", {2}, 2, 8, 4),
                           stored_tensor("first_stage_model.encoder.weight", "F16", {2}, 2, 12, 4)});
  report.components = {{"text_encoder", 1, 2, 4, {"F16"}}, {"unet", 1, 2, 4, {"F16"}}, {"vae", 2, 4, 8, {"F16"}}};

  CHECK(plan_of(report, on_cpu()).size() == 4);
  auto request = on_cpu();
  request.components = {"vae"};
  CHECK(names_of(plan_of(report, request)) ==
        std::vector<std::string>{"first_stage_model.decoder.weight", "first_stage_model.encoder.weight"});
  request.components = {"vae", "unet", "text_encoder"};
  CHECK(plan_of(report, request).size() == 4);
  request.components = {"unet", "lora"};
  CHECK_THAT(refusal_of(report, request),
             Catch::Contains("no component \"lora\"") && Catch::Contains("its components: text_encoder, unet, vae"));

  report.components.clear();
  request.components = {"unet"};
  CHECK_THAT(refusal_of(report, request), Catch::Contains("its components: (none)"));
}

TEST_CASE("a TorchScript module loads whole", "[load_plan][components]") {
  auto report = report_of({stored_tensor("linear.weight", "F32", {2, 4}, 8, 0, 32),
                           stored_tensor("steps", "I64", {1}, 1, 32, 8)},
                          formats::model_format::torchscript);
  report.components = {{"encoder", 1, 8, 32, {"F32"}}, {"other", 1, 1, 8, {"I64"}}};
  auto request = on_cpu();
  request.components = {"encoder"};
  CHECK_THAT(refusal_of(report, request), Catch::Contains("loads whole") && Catch::Contains("encoder, other"));
  request.components = {"encoder", "lora"};
  CHECK_THAT(refusal_of(report, request), Catch::Contains("loads whole"));
  request.components = {"other", "encoder"};
  CHECK(std::get<std::uint64_t>(planned_bytes(report, request)) == 40);
  request.components.clear();
  CHECK(std::get<std::uint64_t>(planned_bytes(report, request)) == 40);
}

TEST_CASE("refusals: failed validation, unscanned or unsafe TorchScript, tensors not in the file", "[load_plan][refusal]") {
  auto report = hand_made_report();
  CHECK_FALSE(validation_refusal(report).has_value());
  report.issues.push_back({"SOME_WARNING", formats::severity::warning, "odd but loadable", {}});
  CHECK_FALSE(validation_refusal(report).has_value());
  report.issues.push_back({"SAFETENSORS_INVALID_OFFSET", formats::severity::error, "overlap", {}});
  CHECK_THAT(validation_refusal(report).value_or(""),
             Catch::Contains("failed validation") && Catch::Contains("SAFETENSORS_INVALID_OFFSET: overlap"));

  formats::model_report scripted;
  scripted.format = formats::model_format::torchscript;
  CHECK_THAT(torchscript_refusal(scripted).value_or(""), Catch::Contains("not scanned"));
  scripted.security.scanned = true;
  CHECK_FALSE(torchscript_refusal(scripted).has_value());
  scripted.security.unsafe_globals = {"os.system"};
  scripted.security.unknown_globals = {"mymodule.Thing"};
  CHECK_THAT(torchscript_refusal(scripted).value_or(""),
             Catch::Contains("unsafe or unknown globals: os.system, mymodule.Thing"));

  const auto plan_report = hand_made_report();
  const auto plan = plan_of(plan_report, on_cpu());
  CHECK_FALSE(unstored_tensor(plan, 64).has_value());
  CHECK_THAT(unstored_tensor(plan, 37).value_or(""), Catch::Contains("\"pair\"") && Catch::Contains("outside the file"));
  auto bad = plan_report;
  bad.tensors[3].data_end = 70;
  bad.tensors[3].byte_size = 40;
  CHECK_THAT(refusal_of(bad, on_cpu()), Catch::Contains("\"pair\"")); // 40 bytes do not hold 2 F32
  bad = plan_report;
  bad.tensors[2].data_end = 29; // 3 bytes in the file for 4 bytes of tensor
  CHECK_THAT(unstored_tensor(plan_of(bad, on_cpu()), 64).value_or(""), Catch::Contains("not contiguous"));
  bad = plan_report;
  bad.tensors[3].data_in_file = false;
  CHECK_THAT(unstored_tensor(plan_of(bad, on_cpu()), 64).value_or(""), Catch::Contains("not stored plainly"));
}

TEST_CASE("loads straight from the file: CPU devices, stored types, tensors stored plainly", "[load_plan][direct]") {
  const auto report = report_of({stored_tensor("a", "F16", {4}, 4, 0, 8), stored_tensor("b", "I64", {1}, 1, 8, 8)});
  CHECK(is_cpu_device("cpu"));
  CHECK(is_cpu_device("cpu:3"));
  CHECK_FALSE(is_cpu_device("cuda:0"));
  CHECK_FALSE(is_cpu_device("cpu0"));

  CHECK(loads_from_file(report, on_cpu()));
  CHECK(loads_from_file(report, on("cpu:1")));
  CHECK(loads_from_file(report, on_cpu(load_dtype::fp16))); // fp16 already: nothing converts
  CHECK(direct_plan(report, on_cpu(load_dtype::fp16))->size() == 2);
  CHECK_FALSE(loads_from_file(report, on_cpu(load_dtype::fp32))); // a conversion needs a host buffer
  CHECK_FALSE(loads_from_file(report, on("cuda:0")));
  CHECK_FALSE(loads_from_file(report, on("tpu:0")));

  auto request = on_cpu();
  request.components = {"lora"};
  CHECK_FALSE(loads_from_file(report, request));
  auto scripted = report;
  scripted.format = formats::model_format::torchscript;
  scripted.security.scanned = true;
  CHECK_FALSE(loads_from_file(scripted, on_cpu())); // TorchScript loads through torch::jit::load
  auto invalid = report;
  invalid.issues.push_back({"SAFETENSORS_INVALID_OFFSET", formats::severity::error, "overlap", {}});
  CHECK_FALSE(loads_from_file(invalid, on_cpu()));
  auto compressed = report;
  compressed.tensors[1].data_in_file = false;
  CHECK_FALSE(loads_from_file(compressed, on_cpu()));
  auto shrunk = report;
  shrunk.file.size_bytes = 12;
  CHECK_FALSE(loads_from_file(shrunk, on_cpu()));
}

TEST_CASE("a CPU load's tensors lie at 64-byte boundaries of one block", "[load_plan][placement]") {
  const auto report = report_of({stored_tensor("a", "F32", {1}, 1, 0, 4), stored_tensor("b", "F32", {16}, 16, 4, 64),
                                 stored_tensor("c", "F16", {0}, 0, 68, 0), stored_tensor("d", "U8", {65}, 65, 68, 65)});
  const auto placement = place_in_cpu_memory(plan_of(report, on_cpu()));
  CHECK(placement.offsets == std::vector<std::uint64_t>{0, 64, 128, 128});
  CHECK(placement.total_bytes == 128 + 128);
  CHECK(place_in_cpu_memory({}).total_bytes == 0);
}

TEST_CASE("the dtype loaded weights report", "[load_plan][dtype]") {
  using shares = std::vector<dtype_share>;
  CHECK(dominant_dtype(shares{}) == "none");
  CHECK(dominant_dtype(shares{{"fp16", 10, true}, {"int64", 1000, false}, {"fp16", 5, true}}) == "fp16");
  CHECK(dominant_dtype(shares{{"fp16", 10, true}, {"fp32", 10, true}, {"int64", 1000, false}}) == "mixed");
  CHECK(dominant_dtype(shares{{"int8", 10, false}, {"int64", 16, false}, {"int8", 10, false}}) == "int8");

  const auto report = report_of({stored_tensor("w", "BF16", {4}, 4, 0, 8), stored_tensor("h", "F32", {4}, 4, 8, 16)});
  CHECK(dominant_dtype(plan_of(report, on_cpu())) == "mixed");
  CHECK(dominant_dtype(plan_of(report, on_cpu(load_dtype::bf16))) == "bf16");
}
