// Measured inference of loaded weights (run_benchmark in model_loader.hpp): a TorchScript
// module's forward, or each 2-D floating-point weight as a matmul beside a plain matmul of the
// same size, with the peak memory of the run. CUDA paths are compiled in only where libtorch
// has CUDA.
#include "gpu/model_loader.hpp"

#include "gpu/cancel_flag.hpp"
#include "gpu/torch_support.hpp"
#include "gpu/torch_weights.hpp"

#include <ATen/core/Tensor.h>
#include <ATen/ops/randn.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>

#ifdef MODELD_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <cmath>
#include <map>

namespace modeld::gpu {

namespace {

void summarise(benchmark_measurement& m) {
  auto sorted = m.run_ms;
  std::sort(sorted.begin(), sorted.end());
  const auto n = sorted.size();
  m.median_ms = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  m.p95_ms = sorted[static_cast<std::size_t>(std::ceil(0.95 * static_cast<double>(n))) - 1];
  m.throughput_per_s = m.median_ms > 0 ? 1000.0 / m.median_ms : 0;
  m.iterations = static_cast<std::uint32_t>(n);
}

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

} // namespace modeld::gpu
