#include "gpu/torchscript_loader.hpp"

#include "gpu/cancel_flag.hpp"
#include "gpu/load_plan.hpp"
#include "gpu/torch_support.hpp"
#include "gpu/torch_weights.hpp"

#include <ATen/core/Tensor.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <cstring>

namespace modeld::gpu {

namespace {

// The archive's bytes for torch::jit::load without copying the whole file first.
class host_read_adapter final : public caffe2::serialize::ReadAdapterInterface {
public:
  explicit host_read_adapter(const host_buffer& file) : file_(file) {}
  size_t size() const override { return static_cast<size_t>(file_.size()); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= file_.size())
      return 0;
    n = static_cast<size_t>(std::min<std::uint64_t>(n, file_.size() - pos));
    const auto* bytes = file_.bytes_at(pos, n);
    if (bytes == nullptr) // an archive is never kept in blocks; a short read is torch's error
      return 0;
    std::memcpy(buf, bytes, n);
    return n;
  }

private:
  const host_buffer& file_;
};

// A module may hold tensors of any scalar type; those a load never plans keep torch's name.
std::string precision_label_of(at::ScalarType type) {
  if (const auto dtype = tensor_dtype_of(type))
    return std::string(label_of(*dtype));
  return c10::toString(type);
}

} // namespace

std::variant<load_success, std::string> load_torchscript(const formats::model_report& report, const host_buffer& file,
                                                         c10::Device device, const load_request& request) {
  if (auto reason = torchscript_refusal(report))
    return *reason;
  if (cancelled(request.cancel))
    return "cancelled";
  const auto started = clock_type::now();
  auto module = torch::jit::load(std::make_shared<host_read_adapter>(file), device);
  module.eval();
  const auto wanted = requested_dtype(request.dtype);
  std::vector<dtype_share> shares;
  auto settle = [&](at::Tensor t) {
    if (wanted && t.is_floating_point() && t.scalar_type() != scalar_type_of(*wanted))
      t.set_data(t.to(scalar_type_of(*wanted)));
    shares.push_back({precision_label_of(t.scalar_type()), t.nbytes(), t.is_floating_point()});
  };
  for (const auto& p : module.parameters(true))
    settle(p);
  for (const auto& b : module.buffers(true))
    settle(b);
  synchronize(device);
  load_success success;
  success.timing.host_to_device_ms = elapsed_ms(started);
  success.weights = std::make_shared<torch_weights>(device, std::vector<std::pair<std::string, at::Tensor>>{},
                                                    std::move(module), dominant_dtype(shares));
  return success;
}

} // namespace modeld::gpu
