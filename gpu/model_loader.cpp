// Weights from a host buffer into device memory, and their measured benchmarks. The one
// translation unit of the loader that includes torch (each costs ~20 s to compile); reading
// files into host buffers lives in host_buffer.cpp. CUDA paths are compiled in only where
// libtorch has CUDA.
#include "gpu/model_loader.hpp"
#include "gpu/torch_weights.hpp"

#include "formats/architecture.hpp"
#include "gpu/file_reader.hpp"
#include "gpu/fresh_memory.hpp"

#include "formats/dtype.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/version.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>

namespace modeld::gpu {

namespace {

using clock_type = std::chrono::steady_clock;

double elapsed_ms(clock_type::time_point since) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - since).count();
}

bool cancelled(const std::atomic<bool>* flag) {
  return flag != nullptr && flag->load(std::memory_order_relaxed);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items)
    out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "(none)" : out;
}

// c10 errors carry a C++ backtrace in what(); clients get the first line only.
std::string describe(const std::exception& error) {
  std::string text = error.what();
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error))
    text = c10_error->what_without_backtrace();
  if (const auto end = text.find('\n'); end != std::string::npos)
    text.resize(end);
  return text;
}

bool is_out_of_memory(const std::exception& error) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) || dynamic_cast<const std::bad_alloc*>(&error))
    return true;
  const std::string text = describe(error);
  return text.find("out of memory") != std::string::npos || text.find("not enough memory") != std::string::npos;
}

// ---- devices ----

// "cpu" / "cpu:N" (virtual CPU devices share the host's memory) or "cuda:N".
std::variant<c10::Device, std::string> parse_device(const std::string& text) {
  if (text == "cpu" || text.starts_with("cpu:"))
    return c10::Device(c10::kCPU);
  if (!text.starts_with("cuda:"))
    return "unknown device \"" + text + "\" (expected cpu, cpu:N or cuda:N)";
  int index = -1;
  const auto digits = std::string_view(text).substr(5);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (error != std::errc{} || end != digits.data() + digits.size() || index < 0)
    return "unknown device \"" + text + "\" (expected cpu, cpu:N or cuda:N)";
#ifdef MODELD_TORCH_HAS_CUDA
  const auto count = static_cast<int>(c10::cuda::device_count());
  if (index >= count)
    return "device " + text + " does not exist (" + std::to_string(count) + " CUDA devices visible)";
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
#else
  return "device " + text + " needs CUDA, and this build's libtorch has none";
#endif
}

void synchronize(const c10::Device& device) {
#ifdef MODELD_TORCH_HAS_CUDA
  if (device.is_cuda())
    c10::cuda::device_synchronize();
#else
  (void)device;
#endif
}

// ---- dtypes ----

std::optional<at::ScalarType> torch_type_of(std::string_view dtype) {
  static const std::map<std::string_view, at::ScalarType> types{
    {"F64", at::kDouble},      {"F32", at::kFloat},   {"F16", at::kHalf},    {"BF16", at::kBFloat16},
    {"I64", at::kLong},        {"I32", at::kInt},     {"I16", at::kShort},   {"I8", at::kChar},
    {"U8", at::kByte},         {"BOOL", at::kBool},   {"C64", at::kComplexFloat},
    {"C128", at::kComplexDouble},
  };
  const auto it = types.find(dtype);
  return it == types.end() ? std::nullopt : std::optional(it->second);
}

// Integer types torch 1.13 has no scalar type for; they are never converted, so their bytes
// travel as uint8 whatever the request.
bool is_untyped_integer(std::string_view dtype) { return dtype == "U16" || dtype == "U32" || dtype == "U64"; }

std::optional<at::ScalarType> requested_type(load_dtype dtype) {
  switch (dtype) {
  case load_dtype::keep: return std::nullopt;
  case load_dtype::fp32: return at::kFloat;
  case load_dtype::fp16: return at::kHalf;
  case load_dtype::bf16: return at::kBFloat16;
  }
  return std::nullopt;
}

std::string label_of(at::ScalarType type) {
  switch (type) {
  case at::kDouble: return "fp64";
  case at::kFloat: return "fp32";
  case at::kHalf: return "fp16";
  case at::kBFloat16: return "bf16";
  case at::kLong: return "int64";
  case at::kInt: return "int32";
  case at::kShort: return "int16";
  case at::kChar: return "int8";
  case at::kByte: return "uint8";
  case at::kBool: return "bool";
  case at::kComplexFloat: return "complex64";
  case at::kComplexDouble: return "complex128";
  default: return c10::toString(type);
  }
}

// The dominant dtype of a set of tensors: the floating type when there is one, "mixed" when
// floating tensors have several, else the type holding the most bytes.
std::string dominant_label(const std::vector<std::pair<std::string, std::uint64_t>>& label_bytes,
                           const std::set<std::string>& floating_labels) {
  if (floating_labels.size() == 1)
    return *floating_labels.begin();
  if (floating_labels.size() > 1)
    return "mixed";
  std::map<std::string, std::uint64_t> totals;
  for (const auto& [label, bytes] : label_bytes)
    totals[label] += bytes;
  const auto best = std::max_element(totals.begin(), totals.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  return best == totals.end() ? "none" : best->first;
}

// ---- planning ----

// How one tensor travels: its bytes read as `source` (nullopt: raw uint8 of byte_size) and land
// on the device as `target`.
struct tensor_plan {
  const formats::tensor_info* info = nullptr;
  std::optional<at::ScalarType> source;
  at::ScalarType target = at::kByte;
  std::vector<std::int64_t> shape;
  std::uint64_t device_bytes = 0;
  std::string label; // precision label after conversion
};

std::variant<std::vector<const formats::tensor_info*>, std::string>
select_tensors(const formats::model_report& report, const std::vector<std::string>& wanted) {
  std::vector<const formats::tensor_info*> all;
  all.reserve(report.tensors.size());
  for (const auto& t : report.tensors)
    all.push_back(&t);
  if (wanted.empty())
    return all;
  std::vector<std::string> names;
  for (const auto& c : report.components)
    names.push_back(c.name);
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
  plan.source = torch_type_of(t.dtype);
  if (!plan.source) {
    if (dtype != load_dtype::keep && !is_untyped_integer(t.dtype))
      return where + " has dtype " + t.dtype + ", which cannot be converted to " +
             std::string(to_string(dtype)) + " (load it with dtype auto to keep its raw bytes)";
    plan.target = at::kByte;
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
  const auto element = static_cast<std::uint64_t>(c10::elementSize(*plan.source));
  if (count != t.element_count || count > UINT64_MAX / element || count * element != t.byte_size)
    return where + ": " + std::to_string(t.byte_size) + " bytes do not hold " + std::to_string(count) +
           " elements of " + t.dtype;
  plan.target = *plan.source;
  if (const auto wanted = requested_type(dtype); wanted && at::isFloatingType(*plan.source))
    plan.target = *wanted;
  plan.device_bytes = count * static_cast<std::uint64_t>(c10::elementSize(plan.target));
  plan.label = label_of(plan.target);
  return plan;
}

std::variant<std::vector<tensor_plan>, std::string> plan_load(const formats::model_report& report,
                                                              const load_request& request) {
  if (report.format == formats::model_format::torchscript && !request.components.empty()) {
    // A scripted module is one program: it cannot run with part of its parameters.
    std::set<std::string> asked(request.components.begin(), request.components.end());
    for (const auto& c : report.components)
      asked.erase(c.name);
    if (!asked.empty() || request.components.size() < report.components.size())
      return "a TorchScript module loads whole; its components: " +
             join([&] {
               std::vector<std::string> names;
               for (const auto& c : report.components)
                 names.push_back(c.name);
               return names;
             }());
  }
  auto selected = select_tensors(report, request.components);
  if (auto* reason = std::get_if<std::string>(&selected))
    return *reason;
  std::vector<tensor_plan> plans;
  for (const auto* t : std::get<0>(selected)) {
    auto plan = plan_tensor(*t, request.dtype, report.format == formats::model_format::gguf);
    if (auto* reason = std::get_if<std::string>(&plan))
      return *reason;
    plans.push_back(std::move(std::get<tensor_plan>(plan)));
  }
  return plans;
}

// The archive's bytes for torch::jit::load without copying the whole file first.
class host_read_adapter final : public caffe2::serialize::ReadAdapterInterface {
public:
  explicit host_read_adapter(const host_buffer& file) : file_(file) {}
  size_t size() const override { return static_cast<size_t>(file_.size()); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= file_.size())
      return 0;
    n = static_cast<size_t>(std::min<std::uint64_t>(n, file_.size() - pos));
    std::memcpy(buf, file_.data() + pos, n);
    return n;
  }

private:
  const host_buffer& file_;
};

std::variant<load_success, std::string> load_torchscript(const formats::model_report& report,
                                                         const host_buffer& file, c10::Device device,
                                                         const load_request& request) {
  const auto& security = report.security;
  if (!security.scanned)
    return "refusing to load TorchScript whose pickles were not scanned";
  if (!security.unsafe_globals.empty() || !security.unknown_globals.empty()) {
    auto globals = security.unsafe_globals;
    globals.insert(globals.end(), security.unknown_globals.begin(), security.unknown_globals.end());
    return "refusing to load TorchScript that references unsafe or unknown globals: " + join(globals);
  }
  if (cancelled(request.cancel))
    return "cancelled";
  const auto started = clock_type::now();
  auto module = torch::jit::load(std::make_shared<host_read_adapter>(file), device);
  module.eval();
  std::vector<std::pair<std::string, std::uint64_t>> label_bytes;
  std::set<std::string> floating;
  auto settle = [&](at::Tensor t) {
    if (const auto wanted = requested_type(request.dtype); wanted && t.is_floating_point() &&
                                                           t.scalar_type() != *wanted)
      t.set_data(t.to(*wanted));
    label_bytes.emplace_back(label_of(t.scalar_type()), t.nbytes());
    if (t.is_floating_point())
      floating.insert(label_of(t.scalar_type()));
  };
  for (const auto& p : module.parameters(true))
    settle(p);
  for (const auto& b : module.buffers(true))
    settle(b);
  synchronize(device);
  load_success success;
  success.timing.host_to_device_ms = elapsed_ms(started);
  success.weights = std::make_shared<torch_weights>(device, std::vector<std::pair<std::string, at::Tensor>>{},
                                                    std::move(module), dominant_label(label_bytes, floating));
  return success;
}

// Memory of a virtual CPU device's model: one fresh mapping per load (fresh_memory.hpp).
// Tensors are views into it that keep it alive; the last one unmaps it, so the memory goes back
// to the system on unload.
using cpu_arena = fresh_memory;

constexpr std::uint64_t arena_alignment = 64;

std::uint64_t aligned(std::uint64_t bytes) { return (bytes + arena_alignment - 1) & ~(arena_alignment - 1); }

struct raw_copy {
  std::uint8_t* to;
  std::uint64_t from; // offset of the bytes in the source
  std::uint64_t bytes;
};

// Where a CPU load's bytes come from: `read(to, offset, bytes)` puts bytes [offset, offset +
// bytes) of the file at `to` (the reason on failure). `buffer` is the whole file in host memory,
// or null when the bytes come straight from the file, where every tensor keeps its stored type.
struct byte_source {
  const std::uint8_t* buffer = nullptr;
  std::function<std::optional<std::string>(std::uint8_t*, std::uint64_t, std::uint64_t)> read;
};

byte_source source_of(const host_buffer& file) {
  const auto* base = file.data();
  return {base, [base](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) {
            stream_copy(to, base + offset, bytes);
            return std::optional<std::string>{};
          }};
}

byte_source source_of(const file_reader& file) {
  return {nullptr, [&file](std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes) {
            return file.read_exactly(to, offset, bytes);
          }};
}

// Runs `copies` with one share of the bytes per core (run_in_shares). Cancel is checked between
// 8 MiB chunks, each of which counts in `progress`. The reason when a read failed or the load
// was cancelled.
std::optional<std::string> copy_in_parallel(const std::vector<raw_copy>& copies, const byte_source& source,
                                            const std::atomic<bool>* cancel, progress_meter& progress) {
  constexpr std::uint64_t chunk = 8 << 20;
  std::uint64_t total = 0;
  for (auto& c : copies)
    total += c.bytes;
  std::mutex guard;
  std::optional<std::string> failure;
  std::atomic<bool> stopped{false};
  auto stop = [&](std::string reason) {
    const std::lock_guard lock(guard);
    if (!failure)
      failure = std::move(reason);
    stopped = true;
  };
  run_in_shares(total, [&](std::uint64_t begin, std::uint64_t end) {
    std::uint64_t position = 0;
    for (auto& c : copies) {
      const auto from = std::max(begin, position), to = std::min(end, position + c.bytes);
      for (auto at = from; at < to; at += chunk) {
        if (stopped)
          return;
        if (cancelled(cancel))
          return stop("cancelled before all tensors were copied");
        if (auto error = source.read(c.to + (at - position), c.from + (at - position), std::min(chunk, to - at)))
          return stop(std::move(*error));
        progress.add(std::min(chunk, to - at));
      }
      position += c.bytes;
    }
  });
  return failure;
}

using named_tensors = std::vector<std::pair<std::string, at::Tensor>>;

std::uint64_t device_bytes_of(const std::vector<tensor_plan>& plans) {
  std::uint64_t total = 0;
  for (const auto& plan : plans)
    total += plan.device_bytes;
  return total;
}

// The tensors of `plans` in a new CPU arena: raw copies where the type is kept, torch's
// conversion (from the host buffer) where it changes. The reason on failure or cancel.
std::variant<named_tensors, std::string> copy_into_arena(const std::vector<tensor_plan>& plans,
                                                         const byte_source& source, const load_request& request) {
  const auto* cancel = request.cancel;
  progress_meter progress(request.progress, source.buffer ? "copying" : "reading", device_bytes_of(plans));
  std::uint64_t total = 0;
  for (const auto& plan : plans)
    total += aligned(plan.device_bytes);
  auto arena = std::make_shared<cpu_arena>(total);
  named_tensors tensors;
  tensors.reserve(plans.size());
  std::vector<raw_copy> copies;
  std::uint64_t offset = 0;
  for (const auto& plan : plans) {
    auto* target = arena->data() + offset;
    offset += aligned(plan.device_bytes);
    auto tensor = at::from_blob(
      target, plan.shape, [arena](void*) {}, at::TensorOptions().dtype(plan.target));
    if (plan.source.value_or(at::kByte) == plan.target) {
      copies.push_back({target, plan.info->data_begin, plan.device_bytes});
    } else {
      if (source.buffer == nullptr)
        return "tensor \"" + formats::clip(plan.info->name) + "\" needs a dtype conversion, which reads from a host buffer";
      if (cancelled(cancel))
        return std::string{"cancelled before all tensors were copied"};
      auto from = at::from_blob(const_cast<std::uint8_t*>(source.buffer + plan.info->data_begin), plan.shape,
                                at::TensorOptions().dtype(plan.source.value_or(at::kByte)));
      tensor.copy_(from);
      progress.add(plan.device_bytes);
    }
    tensors.emplace_back(plan.info->name, std::move(tensor));
  }
  if (auto failure = copy_in_parallel(copies, source, cancel, progress))
    return *failure;
  return tensors;
}

// The reason `plans` cannot be copied from a file of `file_size` bytes, if any.
std::optional<std::string> unstored_tensor(const std::vector<tensor_plan>& plans, std::uint64_t file_size) {
  for (const auto& plan : plans) {
    const auto& t = *plan.info;
    if (!t.data_in_file)
      return "tensor \"" + formats::clip(t.name) +
             "\" is not stored plainly in the file (a compressed zip entry or external data)";
    if (t.data_begin > t.data_end || t.data_end > file_size || t.data_end - t.data_begin != t.byte_size)
      return "tensor \"" + formats::clip(t.name) + "\" lies outside the file or is not contiguous";
  }
  return std::nullopt;
}

// Weights of a CPU load from `plans`, their bytes from `source`.
std::variant<load_success, std::string> load_into_cpu(const std::vector<tensor_plan>& plans, const byte_source& source,
                                                      const load_request& request) {
  const auto started = clock_type::now();
  auto copied = copy_into_arena(plans, source, request);
  if (auto* reason = std::get_if<std::string>(&copied))
    return *reason;
  std::vector<std::pair<std::string, std::uint64_t>> label_bytes;
  std::set<std::string> floating;
  for (const auto& plan : plans) {
    label_bytes.emplace_back(plan.label, plan.device_bytes);
    if (at::isFloatingType(plan.target))
      floating.insert(plan.label);
  }
  load_success success;
  success.timing.host_to_device_ms = elapsed_ms(started);
  success.weights = std::make_shared<torch_weights>(c10::Device(c10::kCPU), std::move(std::get<named_tensors>(copied)),
                                                    std::nullopt, dominant_label(label_bytes, floating));
  return success;
}

std::variant<load_success, std::string> load_tensors(const formats::model_report& report,
                                                     const host_buffer& file, c10::Device device,
                                                     const load_request& request) {
  auto planned = plan_load(report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    return *reason;
  const auto& plans = std::get<std::vector<tensor_plan>>(planned);
  if (auto reason = unstored_tensor(plans, file.size()))
    return *reason;
  if (device.is_cpu())
    return load_into_cpu(plans, source_of(file), request);

  std::vector<std::pair<std::string, at::Tensor>> tensors;
  tensors.reserve(plans.size());
  std::vector<std::pair<std::string, std::uint64_t>> label_bytes;
  std::set<std::string> floating;
  // Page-locked sources let the copies overlap; pageable ones would be staged synchronously.
  const bool non_blocking = file.pinned();
  progress_meter progress(request.progress, "copying", device_bytes_of(plans));
  const auto started = clock_type::now();
  for (const auto& plan : plans) {
    if (cancelled(request.cancel))
      return "cancelled after " + std::to_string(tensors.size()) + " of " + std::to_string(plans.size()) +
             " tensors";
    // from_blob wraps the cached bytes without copying; nothing writes through this view, and
    // copy=true makes the device tensor own its memory even where no conversion is needed.
    auto* bytes = const_cast<std::uint8_t*>(file.data() + plan.info->data_begin);
    const auto source = at::from_blob(bytes, plan.shape, at::TensorOptions().dtype(plan.source.value_or(at::kByte)));
    tensors.emplace_back(plan.info->name, source.to(device, plan.target, non_blocking, /*copy=*/true));
    progress.add(plan.device_bytes); // queued, with pinned sources: the synchronize below waits for them
    label_bytes.emplace_back(plan.label, plan.device_bytes);
    if (at::isFloatingType(plan.target))
      floating.insert(plan.label);
  }
  synchronize(device);
  load_success success;
  success.timing.host_to_device_ms = elapsed_ms(started);
  success.weights =
    std::make_shared<torch_weights>(device, std::move(tensors), std::nullopt, dominant_label(label_bytes, floating));
  return success;
}

// Why `report` must not be loaded at all, if it must not.
std::optional<std::string> refusal(const formats::model_report& report) {
  const auto* first = formats::first_error(report.issues);
  if (first == nullptr)
    return std::nullopt;
  return "refusing to load a model that failed validation: " + first->code + ": " + first->message;
}

load_error load_failure(const std::exception& error, const std::string& device) {
  if (is_out_of_memory(error))
    return {"out of memory on " + device + ": " + describe(error), true};
  return {"loading failed: " + describe(error)};
}

// A load step's outcome as the load's: its reason is no memory failure (those are thrown).
std::variant<load_success, load_error> as_load_outcome(std::variant<load_success, std::string> step) {
  if (auto* reason = std::get_if<std::string>(&step))
    return load_error{std::move(*reason)};
  return std::move(std::get<load_success>(step));
}

std::string size_changed(std::uint64_t now, std::uint64_t inspected) {
  return "the file is " + std::to_string(now) + " bytes but was " + std::to_string(inspected) +
         " when inspected; inspect it again";
}

// ---- benchmarks ----

void summarise(benchmark_measurement& m) {
  auto sorted = m.run_ms;
  std::sort(sorted.begin(), sorted.end());
  const auto n = sorted.size();
  m.median_ms = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  m.p95_ms = sorted[static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(n))) - 1];
  m.throughput_per_s = m.median_ms > 0 ? 1000.0 / m.median_ms : 0;
  m.iterations = static_cast<std::uint32_t>(n);
}

#ifdef MODELD_TORCH_HAS_CUDA
// Index of the allocator's statistics summed over its pools (StatType::AGGREGATE, whose
// namespace moved between libtorch releases).
constexpr std::size_t aggregate_stat = 0;
#endif

// The peak memory of one benchmark run (benchmark_measurement::peak_memory_bytes says what
// it counts). Made when the run starts, with its loaded weights already in memory.
class run_memory {
public:
  run_memory(const c10::Device& device, std::uint64_t weight_bytes)
    : device_(device), live_(weight_bytes), peak_(weight_bytes) {
#ifdef MODELD_TORCH_HAS_CUDA
    if (device_.is_cuda()) {
      const auto index = device_.index();
      const auto before =
        static_cast<std::uint64_t>(c10::cuda::CUDACachingAllocator::getDeviceStats(index).allocated_bytes[aggregate_stat].current);
      others_ = before > weight_bytes ? before - weight_bytes : 0;
      c10::cuda::CUDACachingAllocator::resetPeakStats(index);
    }
#endif
  }
  // CPU: bytes of tensors the run created and keeps until its end.
  void hold(std::uint64_t bytes) { raise(live_ += bytes); }
  // CPU: bytes of tensors the run created and frees before it creates the next such ones (an output).
  void pass(std::uint64_t bytes) { raise(live_ + bytes); }

  std::uint64_t peak() const {
#ifdef MODELD_TORCH_HAS_CUDA
    if (device_.is_cuda()) {
      const auto peak = static_cast<std::uint64_t>(
        c10::cuda::CUDACachingAllocator::getDeviceStats(device_.index()).allocated_bytes[aggregate_stat].peak);
      return peak > others_ ? peak - others_ : 0;
    }
#endif
    return peak_;
  }

private:
  void raise(std::uint64_t bytes) { peak_ = std::max(peak_, bytes); }
  c10::Device device_;
  std::uint64_t live_ = 0;
  std::uint64_t peak_ = 0;
  std::uint64_t others_ = 0; // CUDA: allocated on the device before the run, not these weights
};

// The "inference" progress of a benchmark: the weights' bytes, once per measured or warmup run.
struct inference_progress {
  progress_meter meter;
  std::uint64_t bytes_per_run;
  inference_progress(const benchmark_request& request, std::uint64_t weight_bytes)
    : meter(request.progress, "inference", weight_bytes * (request.warmup + request.iterations)),
      bytes_per_run(weight_bytes) {}
};

// Times `runs` calls of `step` (each followed by a device synchronize) into `out`.
template <class Step>
std::optional<std::string> time_runs(std::uint32_t runs, const c10::Device& device, const std::atomic<bool>* cancel,
                                     std::vector<double>* out, inference_progress& progress, Step&& step) {
  for (std::uint32_t i = 0; i < runs; ++i) {
    if (cancelled(cancel))
      return "cancelled";
    const auto started = clock_type::now();
    step();
    synchronize(device);
    if (out != nullptr)
      out->push_back(elapsed_ms(started));
    progress.meter.add(progress.bytes_per_run);
  }
  return std::nullopt;
}

// Bytes of the tensors a value holds: a tensor, or the tensors in tuples and lists.
std::uint64_t tensor_bytes(const c10::IValue& value) {
  if (value.isTensor())
    return value.toTensor().nbytes();
  std::uint64_t total = 0;
  if (value.isTuple())
    for (const auto& item : value.toTupleRef().elements())
      total += tensor_bytes(item);
  else if (value.isList())
    for (const auto& item : value.toListRef())
      total += tensor_bytes(item);
  return total;
}

std::variant<std::vector<std::int64_t>, std::string> forward_input_shape(const torch::jit::Module& module,
                                                                          const benchmark_request& request) {
  if (!request.input_shape.empty())
    return request.input_shape;
  const auto method = module.find_method("forward");
  if (!method)
    return "the TorchScript module has no forward method";
  const auto& arguments = method->function().getSchema().arguments();
  // arguments[0] is self.
  if (arguments.size() >= 2)
    if (const auto tensor = arguments[1].type()->cast<c10::TensorType>())
      if (const auto sizes = tensor->sizes().concrete_sizes())
        return *sizes;
  return "the TorchScript module does not state the shape of its input; give input_shape";
}

std::variant<benchmark_measurement, std::string> benchmark_forward(const torch_weights& weights,
                                                                    const benchmark_request& request) {
  auto shape = forward_input_shape(*weights.module(), request);
  if (auto* reason = std::get_if<std::string>(&shape))
    return *reason;
  auto input_type = at::kFloat;
  for (const auto& p : weights.module()->parameters(true))
    if (p.is_floating_point()) {
      input_type = p.scalar_type();
      break;
    }
  benchmark_measurement m;
  m.kind = "torchscript_forward";
  m.input_shape = std::get<std::vector<std::int64_t>>(shape);
  auto module = *weights.module(); // a handle to the same module; forward is not const
  run_memory memory(weights.device(), weights.bytes());
  const auto input = at::randn(m.input_shape, at::TensorOptions().dtype(input_type).device(weights.device()));
  memory.hold(input.nbytes());
  std::vector<c10::IValue> inputs{input};
  auto forward = [&] { memory.pass(tensor_bytes(module.forward(inputs))); }; // the output, freed at once
  inference_progress progress(request, weights.bytes());
  if (auto stop = time_runs(request.warmup, weights.device(), request.cancel, nullptr, progress, forward))
    return *stop;
  if (auto stop = time_runs(request.iterations, weights.device(), request.cancel, &m.run_ms, progress, forward))
    return *stop;
  summarise(m);
  m.peak_memory_bytes = memory.peak(); // no FLOP counts: a forward's are unknown, so no GFLOP/s
  return m;
}

// The same matmuls over fresh tensors of the same shapes. Past `budget` bytes the fresh
// weights of a shape are reused, so a model filling most of the device can still be measured.
std::vector<at::Tensor> baseline_weights(const std::vector<at::Tensor>& weights, std::uint64_t budget,
                                         run_memory& memory) {
  std::vector<at::Tensor> fresh;
  std::map<std::vector<std::int64_t>, std::vector<at::Tensor>> by_shape;
  std::map<std::vector<std::int64_t>, std::size_t> next;
  std::uint64_t used = 0;
  for (const auto& w : weights) {
    const auto key = w.sizes().vec();
    auto& pool = by_shape[key];
    if (pool.empty() || used + w.nbytes() <= budget) {
      pool.push_back(at::randn(w.sizes(), w.options()));
      used += w.nbytes();
      memory.hold(pool.back().nbytes());
      fresh.push_back(pool.back());
    } else {
      fresh.push_back(pool[next[key]++ % pool.size()]);
    }
  }
  return fresh;
}

std::variant<benchmark_measurement, std::string> benchmark_matmul(const torch_weights& weights,
                                                                   const benchmark_request& request) {
  if (request.batch == 0)
    return "batch must be at least 1";
  const auto& device = weights.device();
  run_memory memory(device, weights.bytes());
  std::vector<at::Tensor> matrices;
  for (const auto& [name, t] : weights.tensors())
    if (t.dim() == 2 && t.is_floating_point() && t.numel() > 0) {
      // libtorch 1.13 has no fp16 matmul on the CPU: those run in fp32 on a widened copy.
      const bool widen = device.is_cpu() && t.scalar_type() == at::kHalf;
      matrices.push_back(widen ? t.to(at::kFloat) : t);
      if (widen)
        memory.hold(matrices.back().nbytes());
    }
  if (matrices.empty())
    return "the loaded weights hold no 2-D floating-point tensor to multiply";
  benchmark_measurement m;
  m.kind = "weight_matmul";
  m.input_shape = {static_cast<std::int64_t>(request.batch)};
  const auto batch = static_cast<std::int64_t>(request.batch);
  std::map<std::pair<std::int64_t, at::ScalarType>, at::Tensor> inputs;
  double flops = 0;
  std::uint64_t weight_bytes = 0;
  for (const auto& w : matrices) {
    const auto in = w.size(1);
    auto& x = inputs[{in, w.scalar_type()}];
    if (!x.defined()) {
      x = at::randn({batch, in}, w.options());
      memory.hold(x.nbytes());
    }
    flops += 2.0 * static_cast<double>(batch) * static_cast<double>(in) * static_cast<double>(w.size(0));
    weight_bytes += w.nbytes();
  }
  const auto fresh =
    baseline_weights(matrices, std::min<std::uint64_t>(weight_bytes, std::uint64_t{1} << 30), memory);
  auto sweep = [&inputs, &memory](const std::vector<at::Tensor>* ws) {
    return [&inputs, &memory, ws] {
      for (const auto& w : *ws) // each product is freed before the next
        memory.pass(inputs.at({w.size(1), w.scalar_type()}).matmul(w.t()).nbytes());
    };
  };
  auto loaded_sweep = sweep(&matrices);
  auto baseline_sweep = sweep(&fresh);
  // Progress counts the loaded weights' runs; the baseline's runs between them count nothing.
  inference_progress progress(request, weight_bytes), silent({}, 0);
  for (std::uint32_t i = 0; i < request.warmup; ++i) {
    if (auto stop = time_runs(1, device, request.cancel, nullptr, progress, loaded_sweep))
      return *stop;
    if (auto stop = time_runs(1, device, request.cancel, nullptr, silent, baseline_sweep))
      return *stop;
  }
  // Interleaved so both see the same clocks, temperature and neighbours.
  std::vector<double> baseline_ms;
  for (std::uint32_t i = 0; i < request.iterations; ++i) {
    if (auto stop = time_runs(1, device, request.cancel, &m.run_ms, progress, loaded_sweep))
      return *stop;
    if (auto stop = time_runs(1, device, request.cancel, &baseline_ms, silent, baseline_sweep))
      return *stop;
  }
  summarise(m);
  benchmark_measurement baseline;
  baseline.run_ms = std::move(baseline_ms);
  summarise(baseline);
  if (m.median_ms > 0)
    m.achieved_gflops = flops / (m.median_ms * 1e6);
  if (baseline.median_ms > 0)
    m.baseline_gflops = flops / (baseline.median_ms * 1e6);
  m.peak_memory_bytes = memory.peak();
  return m;
}

} // namespace

torch_weights::torch_weights(c10::Device device, std::vector<std::pair<std::string, at::Tensor>> tensors,
                             std::optional<torch::jit::Module> module, std::string dtype)
  : device_(device), tensors_(std::move(tensors)), module_(std::move(module)), dtype_(std::move(dtype)) {
  if (module_) {
    for (const auto& p : module_->named_parameters(true))
      tensors_.emplace_back(p.name, p.value);
    for (const auto& b : module_->named_buffers(true))
      tensors_.emplace_back(b.name, b.value);
  }
  std::unordered_set<const c10::StorageImpl*> seen;
  for (const auto& [name, t] : tensors_)
    if (t.defined() && seen.insert(t.storage().unsafeGetStorageImpl()).second)
      bytes_ += t.storage().nbytes();
}

torch_weights::~torch_weights() {
#ifdef MODELD_TORCH_HAS_CUDA
  // Unloading must give the memory back to the device, not to torch's cache: budgets and
  // other processes see the driver's numbers.
  if (device_.is_cuda()) {
    tensors_.clear();
    module_.reset();
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
#endif
}

std::variant<std::uint64_t, std::string> planned_bytes(const formats::model_report& report,
                                                       const load_request& request) {
  auto planned = plan_load(report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    return *reason;
  return device_bytes_of(std::get<std::vector<tensor_plan>>(planned));
}

std::variant<load_success, load_error> load_weights(const formats::model_report& report,
                                                    const host_buffer& file, const load_request& request) {
  if (auto reason = refusal(report))
    return *reason;
  if (file.size() != report.file.size_bytes)
    return size_changed(file.size(), report.file.size_bytes);
  auto device = parse_device(request.device);
  if (auto* reason = std::get_if<std::string>(&device))
    return *reason;
  try {
    const at::NoGradGuard no_grad;
    if (report.format == formats::model_format::torchscript)
      return as_load_outcome(load_torchscript(report, file, std::get<c10::Device>(device), request));
    return as_load_outcome(load_tensors(report, file, std::get<c10::Device>(device), request));
  } catch (const std::exception& error) {
    return load_failure(error, request.device);
  }
}

namespace {

// The plans of a load that can go straight from the file into a CPU device, if it can.
std::optional<std::vector<tensor_plan>> direct_plans(const formats::model_report& report, const load_request& request) {
  auto device = parse_device(request.device);
  if (!std::holds_alternative<c10::Device>(device) || !std::get<c10::Device>(device).is_cpu() ||
      report.format == formats::model_format::torchscript || refusal(report))
    return std::nullopt;
  auto planned = plan_load(report, request);
  auto* plans = std::get_if<std::vector<tensor_plan>>(&planned);
  if (plans == nullptr || unstored_tensor(*plans, report.file.size_bytes) ||
      !std::all_of(plans->begin(), plans->end(),
                   [](const tensor_plan& plan) { return plan.source.value_or(at::kByte) == plan.target; }))
    return std::nullopt;
  return std::move(*plans);
}

} // namespace

bool loads_from_file(const formats::model_report& report, const load_request& request) {
  return direct_plans(report, request).has_value();
}

std::variant<load_success, load_error> load_weights_from_file(const formats::model_report& report,
                                                              const file_reader& file, const load_request& request) {
  auto plans = direct_plans(report, request);
  if (!plans)
    return "'" + file.path() + "' cannot be read straight into " + request.device + " (it needs a host buffer)";
  if (file.size() != report.file.size_bytes)
    return size_changed(file.size(), report.file.size_bytes);
  try {
    const at::NoGradGuard no_grad;
    return as_load_outcome(load_into_cpu(*plans, source_of(file), request));
  } catch (const std::exception& error) {
    return load_failure(error, request.device);
  }
}

std::variant<benchmark_measurement, std::string> run_benchmark(const loaded_weights& weights,
                                                               const std::string& device,
                                                               const benchmark_request& request) {
  const auto* loaded = dynamic_cast<const torch_weights*>(&weights);
  if (loaded == nullptr)
    return "these weights were not loaded by the libtorch loader";
  auto parsed = parse_device(device);
  if (auto* reason = std::get_if<std::string>(&parsed))
    return *reason;
  if (std::get<c10::Device>(parsed) != loaded->device())
    return "the weights live on " + loaded->device().str() + ", not on " + device;
  if (request.iterations == 0)
    return "iterations must be at least 1";
  try {
    const c10::InferenceMode inference;
    return loaded->is_torchscript() ? benchmark_forward(*loaded, request) : benchmark_matmul(*loaded, request);
  } catch (const std::exception& error) {
    if (is_out_of_memory(error))
      return "out of memory on " + device + " while benchmarking: " + describe(error);
    return "benchmark failed: " + describe(error);
  }
}

device_facts describe_device(const std::string& device) {
  device_facts facts;
  facts.torch_version = TORCH_VERSION;
  facts.threads = at::get_num_threads();
  auto parsed = parse_device(device);
  if (auto* reason = std::get_if<std::string>(&parsed)) {
    facts.device_name = *reason;
    return facts;
  }
  const auto& d = std::get<c10::Device>(parsed);
#ifdef MODELD_TORCH_HAS_CUDA
  if (d.is_cuda()) {
    // An empty tensor allocates nothing but initialises torch's CUDA state, without which
    // the allocator has no statistics for the device yet.
    (void)at::empty({0}, at::TensorOptions().device(d));
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, d.index()) == cudaSuccess) {
      facts.device_name = properties.name;
      facts.memory_total = static_cast<std::uint64_t>(properties.totalGlobalMem);
    }
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index());
    facts.memory_used = static_cast<std::uint64_t>(
      stats.allocated_bytes[aggregate_stat].current);
    return facts;
  }
#else
  (void)d;
#endif
  facts.device_name = "cpu"; // a virtual CPU device's memory is its budget: the device actor knows it
  return facts;
}

} // namespace modeld::gpu
