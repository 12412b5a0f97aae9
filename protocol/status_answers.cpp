#include "protocol/status_answers.hpp"

#include "actors/epoch.hpp"
#include "actors/status_view.hpp"
#include "protocol/json_writer.hpp"
#include "protocol/status_json.hpp"

namespace modeld::protocol {

boost::json::value status_data(const status_sources& sources, status_shape shape, const std::string& device_id) {
  auto status = actors::read_status(*sources.registry, device_id, actors::epoch_ms());
  auto services = sources.services->snapshot();
  auto data = shape == status_shape::device ? device_status_json(status, *services)
                                            : model_status_json(status, *sources.cache_board->read(), *services);
  data.as_object()["workers"] = workers_json(sources.pools);
  const auto& peers = sources.registry->peers();
  data.as_object()["nodes"] = peers ? nodes_json(*peers->read(), actors::epoch_ms()) : boost::json::array{};
  if (sources.requests != nullptr) {
    auto totals = sources.requests->sum();
    data.as_object()["requests"] = boost::json::object{{"answered", totals.answered}, {"failed", totals.failed}};
  }
  return data;
}

std::shared_ptr<const std::string> status_texts::read(const status_sources& sources, status_shape shape,
                                                      const std::string& device_id, key_case style) {
  // Read before rendering: a change made while it renders makes the next read render again.
  const auto& peers = sources.registry->peers();
  read_from now{sources.registry->snapshot(), sources.registry->board()->read(), sources.services->snapshot(),
                shape == status_shape::model ? sources.cache_board->read() : nullptr,
                peers ? peers->read() : nullptr};
  const auto at = std::chrono::steady_clock::now();
  key k{shape, device_id, style};
  {
    std::lock_guard lock{mutex_};
    auto found = texts_.find(k);
    if (found != texts_.end() && found->second.sources == now && at - found->second.rendered < status_text_lifetime)
      return found->second.json;
  }
  auto data = status_data(sources, shape, device_id);
  apply_key_case(data, style);
  auto json = std::make_shared<const std::string>(to_json(data));
  std::lock_guard lock{mutex_};
  texts_[k] = text{std::move(now), at, json};
  return json;
}

} // namespace modeld::protocol
