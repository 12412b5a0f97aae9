// Weights loaded by the libtorch loader: the tensors (by name) in one device's memory, and the
// module of a TorchScript archive. Includes torch: for the loader's own files and the gpu tests
// only (model_loader.hpp stays free of torch so that actors can hold weights without it).
#pragma once

#include "gpu/model_loader.hpp"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/csrc/jit/api/module.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace modeld::gpu {

class torch_weights final : public loaded_weights {
public:
  // `tensors` by name; a TorchScript `module` adds its parameters and buffers to them. Bytes are
  // counted once per storage, so views of one storage count once.
  torch_weights(c10::Device device, std::vector<std::pair<std::string, at::Tensor>> tensors,
                std::optional<torch::jit::Module> module, std::string dtype);
  ~torch_weights() override;

  std::uint64_t bytes() const override { return bytes_; }
  std::size_t tensor_count() const override { return tensors_.size(); }
  std::string dtype() const override { return dtype_; }
  bool is_torchscript() const override { return module_.has_value(); }

  const c10::Device& device() const { return device_; }
  const std::vector<std::pair<std::string, at::Tensor>>& tensors() const { return tensors_; }
  const std::optional<torch::jit::Module>& module() const { return module_; }

private:
  c10::Device device_;
  std::vector<std::pair<std::string, at::Tensor>> tensors_; // TorchScript: its parameters, buffers
  std::optional<torch::jit::Module> module_;
  std::string dtype_;
  std::uint64_t bytes_ = 0;
};

} // namespace modeld::gpu
