#include "actors/messages.hpp"

namespace modeld::actors {

std::string overall_health(const std::vector<device_report>& devices) {
  std::size_t answered = 0;
  for (auto& d : devices)
    if (d.answered)
      ++answered;
  if (answered == 0)
    return "down";
  return answered == devices.size() ? "healthy" : "degraded";
}

} // namespace modeld::actors
