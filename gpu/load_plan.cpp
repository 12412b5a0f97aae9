#include "gpu/load_plan.hpp"

#include "formats/architecture.hpp"
#include "formats/dtype.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <utility>

namespace modeld::gpu {

namespace {

// Each tensor_dtype under the canonical name formats gives it, which also yields its size and
// label (formats/dtype.hpp).
constexpr std::array<std::pair<tensor_dtype, std::string_view>, 12> stored_names{{
  {tensor_dtype::f64, "F64"},
  {tensor_dtype::f32, "F32"},
  {tensor_dtype::f16, "F16"},
  {tensor_dtype::bf16, "BF16"},
  {tensor_dtype::i64, "I64"},
  {tensor_dtype::i32, "I32"},
  {tensor_dtype::i16, "I16"},
  {tensor_dtype::i8, "I8"},
  {tensor_dtype::u8, "U8"},
  {tensor_dtype::boolean, "BOOL"},
  {tensor_dtype::c64, "C64"},
  {tensor_dtype::c128, "C128"},
}};

std::string_view stored_name(tensor_dtype dtype) {
  return std::find_if(stored_names.begin(), stored_names.end(), [dtype](const auto& entry) {
           return entry.first == dtype;
         })->second;
}

std::uint64_t element_bytes(tensor_dtype dtype) { return *formats::element_bits(stored_name(dtype)) / 8; }

// Integer types torch 1.13 has no scalar type for; they are never converted, so their bytes
// travel as uint8 whatever the request.
bool is_untyped_integer(std::string_view dtype) { return dtype == "U16" || dtype == "U32" || dtype == "U64"; }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "(none)" : out;
}

std::vector<std::string> component_names(const formats::model_report& report) {
  std::vector<std::string> names;
  for (const auto& c : report.components)
    names.push_back(c.name);
  return names;
}

std::variant<std::vector<const formats::tensor_info*>, std::string>
select_tensors(const formats::model_report& report, const std::vector<std::string>& wanted) {
  std::vector<const formats::tensor_info*> all;
  all.reserve(report.tensors.size());
  for (const auto& t : report.tensors)
    all.push_back(&t);
  if (wanted.empty())
    return all;
  const auto names = component_names(report);
  std::set<std::string> asked;
  for (const auto& name : wanted) {
    if (std::find(names.begin(), names.end(), name) == names.end())
      return "model has no component \"" + name + "\"; its components: " + join(names);
    asked.insert(name);
  }
  std::vector<const formats::tensor_info*> selected;
  for (const auto* t : all)
    if (asked.count(formats::component_of(t->name, report.type)) > 0)
      selected.push_back(t);
  return selected;
}

std::variant<tensor_plan, std::string> plan_tensor(const formats::tensor_info& t, load_dtype dtype,
                                                   bool gguf_shape) {
  tensor_plan plan;
  plan.info = &t;
  const auto where = "tensor \"" + formats::clip(t.name) + "\"";
  const auto stored = tensor_dtype_of(t.dtype);
  if (!stored) {
    if (dtype != load_dtype::keep && !is_untyped_integer(t.dtype))
      return where + " has dtype " + t.dtype + ", which cannot be converted to " +
             std::string(to_string(dtype)) + " (load it with dtype auto to keep its raw bytes)";
    plan.shape = {static_cast<std::int64_t>(t.byte_size)};
    plan.device_bytes = t.byte_size;
    plan.label = std::string(formats::precision_label(t.dtype));
    return plan;
  }
  std::uint64_t count = 1;
  for (const auto d : t.shape) {
    if (d > static_cast<std::uint64_t>(INT64_MAX) || (d != 0 && count > UINT64_MAX / d))
      return where + " has an impossible shape";
    count *= d;
    plan.shape.push_back(static_cast<std::int64_t>(d));
  }
  // ggml lists the fastest-varying dimension first; torch wants it last.
  if (gguf_shape)
    std::reverse(plan.shape.begin(), plan.shape.end());
  const auto element = element_bytes(*stored);
  if (count != t.element_count || count > UINT64_MAX / element || count * element != t.byte_size)
    return where + ": " + std::to_string(t.byte_size) + " bytes do not hold " + std::to_string(count) +
           " elements of " + t.dtype;
  plan.source = *stored;
  plan.target = *stored;
  if (const auto wanted = requested_dtype(dtype); wanted && is_floating(*stored))
    plan.target = *wanted;
  plan.device_bytes = count * element_bytes(plan.target);
  plan.label = std::string(label_of(plan.target));
  return plan;
}

} // namespace

std::optional<tensor_dtype> tensor_dtype_of(std::string_view stored) {
  for (const auto& [dtype, name] : stored_names)
    if (name == stored)
      return dtype;
  return std::nullopt;
}

std::string_view label_of(tensor_dtype dtype) { return formats::precision_label(stored_name(dtype)); }

bool is_floating(tensor_dtype dtype) {
  return dtype == tensor_dtype::f64 || dtype == tensor_dtype::f32 || dtype == tensor_dtype::f16 ||
         dtype == tensor_dtype::bf16;
}

std::optional<tensor_dtype> requested_dtype(load_dtype dtype) {
  switch (dtype) {
  case load_dtype::keep: return std::nullopt;
  case load_dtype::fp32: return tensor_dtype::f32;
  case load_dtype::fp16: return tensor_dtype::f16;
  case load_dtype::bf16: return tensor_dtype::bf16;
  }
  return std::nullopt;
}

std::variant<load_plan, std::string> plan_load(const formats::model_report& report, const load_request& request) {
  if (report.format == formats::model_format::torchscript && !request.components.empty()) {
    // A scripted module is one program: it cannot run with part of its parameters.
    std::set<std::string> asked(request.components.begin(), request.components.end());
    for (const auto& c : report.components)
      asked.erase(c.name);
    if (!asked.empty() || request.components.size() < report.components.size())
      return "a TorchScript module loads whole; its components: " + join(component_names(report));
  }
  auto selected = select_tensors(report, request.components);
  if (auto* reason = std::get_if<std::string>(&selected))
    return *reason;
  load_plan plan;
  for (const auto* t : std::get<0>(selected)) {
    auto tensor = plan_tensor(*t, request.dtype, report.format == formats::model_format::gguf);
    if (auto* reason = std::get_if<std::string>(&tensor))
      return *reason;
    plan.push_back(std::move(std::get<tensor_plan>(tensor)));
  }
  return plan;
}

std::uint64_t device_bytes_of(const load_plan& plan) {
  std::uint64_t total = 0;
  for (const auto& tensor : plan)
    total += tensor.device_bytes;
  return total;
}

std::optional<std::string> validation_refusal(const formats::model_report& report) {
  const auto* first = formats::first_error(report.issues);
  if (first == nullptr)
    return std::nullopt;
  return "refusing to load a model that failed validation: " + first->code + ": " + first->message;
}

std::optional<std::string> torchscript_refusal(const formats::model_report& report) {
  const auto& security = report.security;
  if (!security.scanned)
    return "refusing to load TorchScript whose pickles were not scanned";
  if (!security.unsafe_globals.empty() || !security.unknown_globals.empty()) {
    auto globals = security.unsafe_globals;
    globals.insert(globals.end(), security.unknown_globals.begin(), security.unknown_globals.end());
    return "refusing to load TorchScript that references unsafe or unknown globals: " + join(globals);
  }
  return std::nullopt;
}

std::optional<std::string> unstored_tensor(const load_plan& plan, std::uint64_t file_size) {
  for (const auto& tensor : plan) {
    const auto& t = *tensor.info;
    if (!t.data_in_file)
      return "tensor \"" + formats::clip(t.name) +
             "\" is not stored plainly in the file (a compressed zip entry or external data)";
    if (t.data_begin > t.data_end || t.data_end > file_size || t.data_end - t.data_begin != t.byte_size)
      return "tensor \"" + formats::clip(t.name) + "\" lies outside the file or is not contiguous";
  }
  return std::nullopt;
}

bool is_cpu_device(std::string_view device) { return device == "cpu" || device.starts_with("cpu:"); }

std::optional<load_plan> direct_plan(const formats::model_report& report, const load_request& request) {
  if (!is_cpu_device(request.device) || report.format == formats::model_format::torchscript ||
      validation_refusal(report))
    return std::nullopt;
  auto planned = plan_load(report, request);
  auto* plan = std::get_if<load_plan>(&planned);
  if (plan == nullptr || unstored_tensor(*plan, report.file.size_bytes) ||
      std::any_of(plan->begin(), plan->end(), [](const tensor_plan& tensor) { return tensor.converts(); }))
    return std::nullopt;
  return std::move(*plan);
}

cpu_placement place_in_cpu_memory(const load_plan& plan) {
  constexpr std::uint64_t alignment = 64;
  cpu_placement placement;
  placement.offsets.reserve(plan.size());
  for (const auto& tensor : plan) {
    placement.offsets.push_back(placement.total_bytes);
    placement.total_bytes += (tensor.device_bytes + alignment - 1) & ~(alignment - 1);
  }
  return placement;
}

std::string dominant_dtype(const std::vector<dtype_share>& shares) {
  std::set<std::string> floating;
  std::map<std::string, std::uint64_t> totals;
  for (const auto& share : shares) {
    if (share.floating)
      floating.insert(share.label);
    totals[share.label] += share.bytes;
  }
  if (floating.size() == 1)
    return *floating.begin();
  if (floating.size() > 1)
    return "mixed";
  const auto best = std::max_element(totals.begin(), totals.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == totals.end() ? "none" : best->first;
}

std::string dominant_dtype(const load_plan& plan) {
  std::vector<dtype_share> shares;
  shares.reserve(plan.size());
  for (const auto& tensor : plan)
    shares.push_back({tensor.label, tensor.device_bytes, is_floating(tensor.target)});
  return dominant_dtype(shares);
}

// Declared in model_loader.hpp: plans are what these answer from.

std::variant<std::uint64_t, std::string> planned_bytes(const formats::model_report& report,
                                                       const load_request& request) {
  auto planned = plan_load(report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    return *reason;
  return device_bytes_of(std::get<load_plan>(planned));
}

bool loads_from_file(const formats::model_report& report, const load_request& request) {
  return direct_plan(report, request).has_value();
}

} // namespace modeld::gpu
