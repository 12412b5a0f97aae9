// Helpers shared by the tests of joined nodes: waiting for a node's view to change, and reading
// the device ids of a device list.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace modeld::test {

// The device_id of each device in `devices` (a JSON array), in order.
inline std::vector<std::string> device_ids(const boost::json::value& devices) {
  std::vector<std::string> ids;
  for (auto& d : devices.as_array())
    ids.emplace_back(d.at("device_id").as_string());
  return ids;
}

// Polls `done` every 50 ms for at most `limit`; the time it took, or -1 ms when it never held.
inline std::chrono::milliseconds until(const std::function<bool()>& done,
                                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    if (done())
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::chrono::milliseconds(-1);
}

} // namespace modeld::test
