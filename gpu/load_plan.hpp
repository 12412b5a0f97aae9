// What a load takes from a model report and how, decided before any byte moves: which tensors
// (the components asked for), the dtype each lands in on the device, the bytes that takes, where
// each lies in a virtual CPU device's memory, and why a load is refused. Free of torch, so it is
// tested alone (tests/gpu/load_plan_tests.cpp); the torch files only carry a plan out, mapping
// its dtypes to torch's scalar types (torch_support.hpp).
#pragma once

#include "formats/model_report.hpp"
#include "gpu/model_loader.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace modeld::gpu {

// The element types a load places on a device as typed tensors: those libtorch 1.13 has a
// scalar type for. Tensors of any other stored dtype travel as raw bytes (u8).
enum class tensor_dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean, c64, c128 };

// The tensor_dtype of a stored dtype (formats' canonical name: "F32", "BF16", ...); nullopt
// where torch has none ("F8_E4M3", "U16", "Q4_0", ...).
std::optional<tensor_dtype> tensor_dtype_of(std::string_view stored);
// The precision label loaded weights report for it: "fp32", "int64", "bool", ...
std::string_view label_of(tensor_dtype dtype);
// The floating types: the only ones a requested conversion changes.
bool is_floating(tensor_dtype dtype);
// The dtype a request converts floating tensors to; nullopt for keep.
std::optional<tensor_dtype> requested_dtype(load_dtype dtype);

// How one tensor travels: its bytes are read as `source` and land on the device as `target`.
struct tensor_plan {
  const formats::tensor_info* info = nullptr; // into the report planned from, which outlives the plan
  tensor_dtype source = tensor_dtype::u8;
  tensor_dtype target = tensor_dtype::u8;
  std::vector<std::int64_t> shape; // in torch's order; raw bytes: {byte_size}
  std::uint64_t device_bytes = 0;
  std::string label; // precision label after conversion ("fp8", "q4_0" for raw bytes)

  bool converts() const { return source != target; }
};

// The tensors of one load, in the report's order.
using load_plan = std::vector<tensor_plan>;

// The plan of loading `report` with `request` (its components and dtype; the device is not
// looked at), or why it cannot be done: a component the model lacks, part of a TorchScript
// module, a conversion of a dtype torch has no type for, a tensor whose shape and bytes
// disagree.
std::variant<load_plan, std::string> plan_load(const formats::model_report& report, const load_request& request);

std::uint64_t device_bytes_of(const load_plan& plan);

// Why `report` must not be loaded at all (it failed validation), if it must not.
std::optional<std::string> validation_refusal(const formats::model_report& report);
// Why the TorchScript archive of `report` must not be loaded: its pickles were not scanned, or
// they reference unsafe or unknown globals (torch::jit::load would import them).
std::optional<std::string> torchscript_refusal(const formats::model_report& report);
// Why the tensors of `plan` cannot be copied from a file of `file_size` bytes (a tensor not
// stored plainly, or outside the file), if they cannot.
std::optional<std::string> unstored_tensor(const load_plan& plan, std::uint64_t file_size);

// "cpu" or "cpu:N": a virtual CPU device, which shares the host's memory.
bool is_cpu_device(std::string_view device);

// The plan of a load whose tensors can go straight from the file into memory, if it can
// (loads_from_file in model_loader.hpp says when).
std::optional<load_plan> direct_plan(const formats::model_report& report, const load_request& request);

// Where each tensor of a plan lies in a CPU load's one block of memory (offsets in plan order)
// and that block's size. Each starts at a multiple of 64 bytes, the alignment torch's own CPU
// allocator gives (c10's gAlignment) and its vectorised kernels expect.
struct cpu_placement {
  std::vector<std::uint64_t> offsets;
  std::uint64_t total_bytes = 0;
};
cpu_placement place_in_cpu_memory(const load_plan& plan);

// One tensor's part in the dtype loaded weights report.
struct dtype_share {
  std::string label;
  std::uint64_t bytes = 0;
  bool floating = false;
};
// The dominant dtype of a set of tensors: the floating type when there is one, "mixed" when
// floating tensors have several, else the type holding the most bytes ("none" for no tensors).
std::string dominant_dtype(const std::vector<dtype_share>& shares);
// The same for the tensors of a plan, after conversion.
std::string dominant_dtype(const load_plan& plan);

} // namespace modeld::gpu
