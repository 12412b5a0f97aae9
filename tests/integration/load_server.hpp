// A demo_server on chosen devices, with the lookups the load, cache and benchmark tests share.
#pragma once

#include "demo_server.hpp"
#include "json_checks.hpp"

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace modeld::test {

// The resident set of process `pid` in KiB (VmRSS), or -1.
inline std::int64_t resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoll(line.substr(6));
  return -1;
}

struct load_server : demo_server {
  explicit load_server(const std::string& devices, std::vector<std::string> extra = {})
    : demo_server(with_devices(devices, std::move(extra))) {}

  // Bytes of the model's tensors (all components, or one), as the catalog reports them.
  std::int64_t tensor_bytes(const std::string& model_id, const std::string& component = {}) {
    std::int64_t total = 0;
    auto components = data_of(call("get_model_components", {{"model_id", model_id}}));
    for (auto& c : components.at("components").as_array())
      if (component.empty() || c.at("name") == component.c_str())
        total += c.at("bytes").to_number<std::int64_t>();
    return total;
  }
  boost::json::value device(const std::string& device_id) {
    return data_of(call("get_device_status", {{"device_id", device_id}})).at("devices").at(0);
  }

private:
  static std::vector<std::string> with_devices(const std::string& devices, std::vector<std::string> extra) {
    extra.insert(extra.begin(), {"--devices", devices});
    return extra;
  }
};

} // namespace modeld::test
