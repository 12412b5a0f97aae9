#include "gpu/torch_weights.hpp"

#ifdef MODELD_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <unordered_set>

namespace modeld::gpu {

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

} // namespace modeld::gpu
