#include "protocol/progress_events.hpp"

#include <boost/json/object.hpp>

#include <cmath>

namespace modeld::protocol {
namespace json = boost::json;

std::shared_ptr<const actors::progress_sink> progress_for(const request& req) {
  if (!req.emit_event)
    return nullptr;
  auto emit = req.emit_event;
  return std::make_shared<const actors::progress_sink>(
    [emit](std::uint64_t done, std::uint64_t total, const std::string& stage) {
      double progress = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
      emit(json::object{{"event", "progress"},
                        {"stage", stage},
                        {"done_bytes", done},
                        {"total_bytes", total},
                        {"progress", std::round(progress * 1000.0) / 1000.0}});
    });
}

} // namespace modeld::protocol
