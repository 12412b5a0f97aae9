#include "gpu/devices.hpp"

#include "gpu/byte_size.hpp"

#include <string>

namespace modeld::gpu {

namespace {

// A virtual CPU device owns exactly its budget: that is the memory it may account for.
device_description cpu_device(int index, std::uint64_t budget) {
  return {"cpu:" + std::to_string(index), device_kind::cpu, index, "virtual CPU device", budget, budget};
}

} // namespace

std::variant<std::vector<device_description>, std::string> enumerate_devices(const device_spec& spec) {
  std::vector<device_description> devices;
  auto cuda = probe_cuda_devices();
  if (spec.automatic) {
    for (std::size_t i = 0; i < cuda.size(); ++i)
      devices.push_back({"cuda:" + std::to_string(i), device_kind::cuda, static_cast<int>(i), cuda[i].name,
                         cuda[i].total_bytes, cuda[i].total_bytes});
    if (devices.empty())
      devices.push_back(cpu_device(0, physical_memory_bytes()));
    return devices;
  }
  for (auto& request : spec.devices) {
    if (request.kind == device_kind::cpu) {
      // A virtual CPU device's memory is the host's: a budget beyond it would only fail later,
      // mid-load, with the host out of memory.
      auto host = physical_memory_bytes();
      auto budget = request.budget_bytes.value_or(host);
      if (host != 0 && budget > host)
        return "budget " + format_byte_size(budget) + " of " + request.id() + " exceeds the host's memory (" +
               format_byte_size(host) + ")";
      devices.push_back(cpu_device(request.index, budget));
      continue;
    }
    if (static_cast<std::size_t>(request.index) >= cuda.size())
      return request.id() + " does not exist (libtorch sees " + std::to_string(cuda.size()) + " CUDA device(s)" +
             (torch_has_cuda() ? "" : "; this libtorch was built without CUDA") + ")";
    auto& facts = cuda[static_cast<std::size_t>(request.index)];
    auto budget = request.budget_bytes.value_or(facts.total_bytes);
    if (budget > facts.total_bytes)
      return "budget " + format_byte_size(budget) + " of " + request.id() + " exceeds its memory (" +
             format_byte_size(facts.total_bytes) + ")";
    devices.push_back({request.id(), device_kind::cuda, request.index, facts.name, facts.total_bytes, budget});
  }
  return devices;
}

} // namespace modeld::gpu
