// Loading model weights into a device's memory with libtorch, from the tensor tables that
// formats/ produced (never unpickling anything), and measuring what happens to them. This
// header stays free of torch so actors can hold loaded models without compiling torch.
#pragma once

#include "formats/model_report.hpp"
#include "gpu/file_reader.hpp"
#include "gpu/progress_meter.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace modeld::gpu {

enum class load_dtype { keep, fp32, fp16, bf16 }; // keep: the stored type ("auto" on the wire)

constexpr std::string_view to_string(load_dtype dtype) {
  switch (dtype) {
  case load_dtype::keep: return "auto";
  case load_dtype::fp32: return "fp32";
  case load_dtype::fp16: return "fp16";
  case load_dtype::bf16: return "bf16";
  }
  return "?";
}

// A file's bytes in host memory, shared read-only between the RAM cache and the loads that
// copy from it (pinned where CUDA exists): one block, or several (host_segments.hpp).
class host_buffer {
public:
  virtual ~host_buffer() = default;
  // The whole file as one block; null where its bytes lie in several blocks.
  virtual const std::uint8_t* data() const = 0;
  virtual std::uint64_t size() const = 0;
  virtual bool pinned() const = 0;
  // Bytes [offset, offset + length) of the file, contiguous in host memory; null when they lie
  // outside the file, or across blocks. Loads read every tensor through this.
  virtual const std::uint8_t* bytes_at(std::uint64_t offset, std::uint64_t length) const {
    if (data() == nullptr || offset > size() || length > size() - offset)
      return nullptr;
    return data() + offset;
  }
};

// A range of a file: `length` bytes from `offset`.
struct file_range {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  bool operator==(const file_range&) const = default;
};

// Reads a whole file into a new host buffer; the reason on failure. `progress` (optional) hears
// "reading" as the bytes arrive.
std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_buffer(const file_reader& file,
                                                                                const progress_callback& progress = {});
// Why a load found bytes [offset, offset + length) missing from a host buffer (bytes_at was null).
std::string not_in_host_memory(std::uint64_t offset, std::uint64_t length);

// Reads `ranges` of a file into one new host buffer, packed one after the other in their order
// (pinned where CUDA is); the reason on failure. `progress` counts the bytes as they arrive.
std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_ranges(const file_reader& file,
                                                                                const std::vector<file_range>& ranges,
                                                                                progress_meter* progress = nullptr);
// The same, opening `path` first (tools and tests).
std::variant<std::shared_ptr<const host_buffer>, std::string> read_host_buffer(const std::string& path,
                                                                                const progress_callback& progress = {});

// Weights that live in one device's memory. Destroying the last reference frees them.
class loaded_weights {
public:
  virtual ~loaded_weights() = default;
  virtual std::uint64_t bytes() const = 0;        // sum of the tensors' storage bytes on the device
  virtual std::size_t tensor_count() const = 0;
  virtual std::string dtype() const = 0;          // dominant dtype after conversion ("fp16", "mixed", ...)
  virtual bool is_torchscript() const = 0;
};

struct load_request {
  std::string device;                    // "cpu" (a virtual CPU device: its own copy) or "cuda:N"
  std::vector<std::string> components;   // empty: every tensor; else only these components
  load_dtype dtype = load_dtype::keep;
  const std::atomic<bool>* cancel = nullptr;
  progress_callback progress; // optional: "reading" (from the file) or "copying" (from a host buffer)
};

// The bytes a load of `report` with `request` will take on the device, before loading:
// exact for every tensor format (storage bytes after dtype conversion). For TorchScript, the
// parameters and buffers the report lists.
std::variant<std::uint64_t, std::string> planned_bytes(const formats::model_report& report,
                                                       const load_request& request);

struct load_timing {
  double host_to_device_ms = 0; // copying from the host buffer into device memory
};

struct load_success {
  std::shared_ptr<loaded_weights> weights;
  load_timing timing;
};

// Why a load did not happen (an unsupported dtype conversion, a component the model does not
// have, cancelled, ...); `out_of_memory` when the device's or the host's memory could not take
// it, as torch reported (an OutOfMemoryError or a bad_alloc), so callers never read the text.
struct load_error {
  load_error(std::string why, bool memory = false) : message(std::move(why)), out_of_memory(memory) {}
  std::string message;
  bool out_of_memory = false;
};

// Copies the tensors of `report` (a standard-level report of the file in `file`) into device
// memory. TorchScript modules load through torch::jit::load, only when the report's security
// scan found no unsafe or unknown globals.
std::variant<load_success, load_error> load_weights(const formats::model_report& report,
                                                    const host_buffer& file, const load_request& request);

// True when `report`'s tensors can go straight from the file into the memory of `request`'s
// device: a virtual CPU device, a tensor format (not TorchScript), every tensor stored plainly
// and kept in its stored type. One copy from the page cache instead of two (into a host
// buffer, then into the device).
bool loads_from_file(const formats::model_report& report, const load_request& request);

// load_weights for such a load, reading the tensors' bytes from `file` with pread (never a
// mapping: a file truncated meanwhile is an error, not a crash). The file must still have the
// size it had when inspected.
std::variant<load_success, load_error> load_weights_from_file(const formats::model_report& report,
                                                              const file_reader& file, const load_request& request);

// Measured inference of loaded weights. TorchScript: forward on generated inputs of
// `input_shape` (or one the module states), warmup + iterations runs. Weights: each 2-D
// floating-point weight as a matmul on a generated batch, with a plain matmul of the same
// size measured in the same run as the baseline.
struct benchmark_request {
  std::uint32_t warmup = 3;
  std::uint32_t iterations = 10;
  std::vector<std::int64_t> input_shape; // TorchScript only; empty: ask the module
  std::uint32_t batch = 8;               // rows of the generated batch for weight matmuls
  const std::atomic<bool>* cancel = nullptr;
  progress_callback progress; // optional: "inference", in bytes of weights swept over all runs
};

// A figure that was not measured is empty, never 0.
struct benchmark_measurement {
  std::string kind;                 // "torchscript_forward" or "weight_matmul"
  std::vector<double> run_ms;       // every measured run, in order
  double median_ms = 0;
  double p95_ms = 0;
  double throughput_per_s = 0;      // forward passes or matmul sweeps per second
  std::optional<double> achieved_gflops; // weight_matmul only: FLOPs of the sweep / median time
  std::optional<double> baseline_gflops; // weight_matmul only: a plain matmul of the same sizes, same run
  // The most memory this run held at once, the loaded weights included. CUDA: the caching
  // allocator's allocated-bytes peak over the run (its peak statistics reset when the run
  // starts), less the bytes the device held before the run that are not these weights (other
  // models). CPU: counted by the benchmark itself: the weights' bytes plus every tensor it
  // creates, added when created and dropped when freed: the generated inputs, fp32 copies of
  // fp16 weights (weight_matmul), the baseline's fresh weights, and each run's output (one at
  // a time); scratch memory libtorch allocates inside an operator, and activations inside a
  // TorchScript forward other than its output, are not seen.
  std::uint64_t peak_memory_bytes = 0;
  std::vector<std::int64_t> input_shape;
  std::uint32_t iterations = 0;

  bool operator==(const benchmark_measurement&) const = default;
};

std::variant<benchmark_measurement, std::string> run_benchmark(const loaded_weights& weights,
                                                               const std::string& device,
                                                               const benchmark_request& request);

// Facts of libtorch about a device: torch version, intra-op threads, device name, and on CUDA
// its memory (a benchmark's system_info takes its memory figures from the device actor's
// account instead, which also knows the budget).
struct device_facts {
  std::string torch_version;
  int threads = 0;
  std::string device_name;        // the CUDA device's name; "cpu" for CPU devices
  std::uint64_t memory_total = 0; // CUDA: the device's memory; 0 on CPU devices
  std::uint64_t memory_used = 0;  // CUDA: allocated by this process; 0 on CPU devices

  bool operator==(const device_facts&) const = default;
};
device_facts describe_device(const std::string& device);

} // namespace modeld::gpu
