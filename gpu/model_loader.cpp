// Loads of model weights into a device's memory with libtorch, carrying out a load's plan
// (load_plan.hpp): tensors laid over a virtual CPU device's fresh memory (filled by cpu_copy.hpp)
// or copied into CUDA memory; TorchScript archives go to torchscript_loader.cpp. CUDA paths are
// compiled in only where libtorch has CUDA.
#include "gpu/model_loader.hpp"

#include "gpu/cancel_flag.hpp"
#include "gpu/cpu_copy.hpp"
#include "gpu/file_reader.hpp"
#include "gpu/fresh_memory.hpp"
#include "gpu/load_plan.hpp"
#include "gpu/torch_support.hpp"
#include "gpu/torch_weights.hpp"
#include "gpu/torchscript_loader.hpp"

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/from_blob.h>

namespace modeld::gpu {

namespace {

using named_tensors = std::vector<std::pair<std::string, at::Tensor>>;

// A planned tensor's stored bytes in `file`; null when they are not in one block of it.
const std::uint8_t* stored_bytes(const host_buffer& file, const tensor_plan& planned) {
  return file.bytes_at(planned.info->data_begin, planned.info->byte_size);
}

// The tensors of `plan` in a new block of CPU memory: raw copies where the type is kept, torch's
// conversion (from the host buffer) where it changes. The reason on failure or cancel.
std::variant<named_tensors, std::string> copy_into_cpu_memory(const load_plan& plan, const byte_source& source,
                                                              const load_request& request) {
  const auto* cancel = request.cancel;
  progress_meter progress(request.progress, source.host ? "copying" : "reading", device_bytes_of(plan));
  const auto placement = place_in_cpu_memory(plan);
  // One fresh mapping per load (fresh_memory.hpp). Tensors are views into it that keep it
  // alive; the last one unmaps it, so the memory goes back to the system on unload.
  auto memory = std::make_shared<fresh_memory>(placement.total_bytes);
  named_tensors tensors;
  tensors.reserve(plan.size());
  std::vector<raw_copy> copies;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& planned = plan[i];
    auto* target = memory->data() + placement.offsets[i];
    auto tensor = at::from_blob(
      target, planned.shape, [memory](void*) {}, at::TensorOptions().dtype(scalar_type_of(planned.target)));
    if (!planned.converts()) {
      copies.push_back({target, planned.info->data_begin, planned.device_bytes});
    } else {
      if (source.host == nullptr)
        return "tensor \"" + formats::clip(planned.info->name) +
               "\" needs a dtype conversion, which reads from a host buffer";
      if (cancelled(cancel))
        return std::string{"cancelled before all tensors were copied"};
      const auto* bytes = stored_bytes(*source.host, planned);
      if (bytes == nullptr)
        return not_in_host_memory(planned.info->data_begin, planned.info->byte_size);
      auto from = at::from_blob(const_cast<std::uint8_t*>(bytes), planned.shape,
                                at::TensorOptions().dtype(scalar_type_of(planned.source)));
      tensor.copy_(from);
      progress.add(planned.device_bytes);
    }
    tensors.emplace_back(planned.info->name, std::move(tensor));
  }
  if (auto failure = copy_in_parallel(copies, source, cancel, progress))
    return *failure;
  return tensors;
}

// Weights of a CPU load of `plan`, their bytes from `source`.
std::variant<load_success, std::string> load_into_cpu(const load_plan& plan, const byte_source& source,
                                                      const load_request& request) {
  const auto started = clock_type::now();
  auto copied = copy_into_cpu_memory(plan, source, request);
  if (auto* reason = std::get_if<std::string>(&copied))
    return *reason;
  load_success success;
  success.timing.host_to_device_ms = elapsed_ms(started);
  success.weights = std::make_shared<torch_weights>(c10::Device(c10::kCPU), std::move(std::get<named_tensors>(copied)),
                                                    std::nullopt, dominant_dtype(plan));
  return success;
}

// Weights of a CUDA load of `plan`, copied (and converted) from the host buffer `file`.
std::variant<load_success, std::string> load_into_cuda(const load_plan& plan, const host_buffer& file,
                                                       c10::Device device, const load_request& request) {
  named_tensors tensors;
  tensors.reserve(plan.size());
  // Page-locked sources let the copies overlap; pageable ones would be staged synchronously.
  const bool non_blocking = file.pinned();
  progress_meter progress(request.progress, "copying", device_bytes_of(plan));
  const auto started = clock_type::now();
  for (const auto& planned : plan) {
    if (cancelled(request.cancel))
      return "cancelled after " + std::to_string(tensors.size()) + " of " + std::to_string(plan.size()) +
             " tensors";
    // from_blob wraps the cached bytes without copying; nothing writes through this view, and
    // copy=true makes the device tensor own its memory even where no conversion is needed.
    const auto* bytes = stored_bytes(file, planned);
    if (bytes == nullptr)
      return not_in_host_memory(planned.info->data_begin, planned.info->byte_size);
    const auto source = at::from_blob(const_cast<std::uint8_t*>(bytes), planned.shape,
                                      at::TensorOptions().dtype(scalar_type_of(planned.source)));
    tensors.emplace_back(planned.info->name,
                         source.to(device, scalar_type_of(planned.target), non_blocking, /*copy=*/true));
    progress.add(planned.device_bytes); // queued, with pinned sources: the synchronize below waits for them
  }
  synchronize(device);
  load_success success;
  success.timing.host_to_device_ms = elapsed_ms(started);
  success.weights = std::make_shared<torch_weights>(device, std::move(tensors), std::nullopt, dominant_dtype(plan));
  return success;
}

std::variant<load_success, std::string> load_tensors(const formats::model_report& report, const host_buffer& file,
                                                     c10::Device device, const load_request& request) {
  auto planned = plan_load(report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    return *reason;
  const auto& plan = std::get<load_plan>(planned);
  if (auto reason = unstored_tensor(plan, file.size()))
    return *reason;
  if (device.is_cpu())
    return load_into_cpu(plan, source_of(file), request);
  return load_into_cuda(plan, file, device, request);
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

} // namespace

std::variant<load_success, load_error> load_weights(const formats::model_report& report, const host_buffer& file,
                                                    const load_request& request) {
  if (auto reason = validation_refusal(report))
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

std::variant<load_success, load_error> load_weights_from_file(const formats::model_report& report,
                                                              const file_reader& file, const load_request& request) {
  auto plan = direct_plan(report, request);
  if (!plan)
    return "'" + file.path() + "' cannot be read straight into " + request.device + " (it needs a host buffer)";
  if (file.size() != report.file.size_bytes)
    return size_changed(file.size(), report.file.size_bytes);
  try {
    const at::NoGradGuard no_grad;
    return as_load_outcome(load_into_cpu(*plan, source_of(file), request));
  } catch (const std::exception& error) {
    return load_failure(error, request.device);
  }
}

} // namespace modeld::gpu
