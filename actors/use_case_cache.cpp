// The RAM cache use cases: what the cache holds (get_model_cache), a model read into it
// (post_model_cache), models evicted (delete_model_cache); each of this node's cache, or of a
// joined node's when the request names one (use_case_routes.hpp).
#include "actors/use_cases.hpp"

#include "actors/cache.hpp"
#include "actors/use_case_routes.hpp"

#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <memory>

namespace modeld::actors {

caf::result<cache_report_result> start_cache_report(use_case_pointer self, cache_request& request) {
  if (!request.node.empty())
    return cache_report_on_node(self, std::move(request));
  return cache_report_result{true, {}, *self->state.cache->read()};
}

caf::result<cache_fill_result> start_cache_fill(use_case_pointer self, cache_request& request) {
  if (!request.node.empty())
    return cache_fill_on_node(self, std::move(request));
  auto promise = self->make_response_promise<cache_fill_result>();
  fetch_model(
    self, std::move(request.model_id), true,
    [self, promise](cache_fetch& fetched) mutable {
      auto cache = self->state.cache->read(); // held: the board may publish a new report meanwhile
      const auto& entries = cache->entries;
      const auto& model_id = fetched.model.model_id;
      cache_fill_result filled;
      filled.ok = true;
      filled.model_id = model_id;
      filled.bytes = fetched.model.buffer ? fetched.model.buffer->size() : 0;
      filled.from_cache = fetched.from_cache;
      filled.cached = std::any_of(entries.begin(), entries.end(),
                                  [&](const cache_entry_info& entry) { return entry.model_id == model_id; });
      filled.disk_to_host_ms = fetched.disk_to_host_ms;
      promise.deliver(std::move(filled));
    },
    [promise](failure why) mutable { promise.deliver(refused_with<cache_fill_result>(std::move(why))); });
  return promise;
}

caf::result<cache_evict_result> start_cache_evict(use_case_pointer self, cache_request& request) {
  if (!request.node.empty())
    return cache_evict_on_node(self, std::move(request));
  auto promise = std::make_shared<caf::typed_response_promise<cache_evict_result>>(
    self->make_response_promise<cache_evict_result>());
  auto model_id = request.model_id;
  watched_request<std::vector<std::string>>(
    self, self->state.services->cache(), caf::infinite,
    [promise, model_id](std::vector<std::string>& evicted) {
      if (!model_id.empty() && evicted.empty())
        promise->deliver(refused_with<cache_evict_result>(
          failure{errc::model_not_found, "'" + model_id + "' is not in the RAM cache"}.about("model_id", model_id)));
      else
        promise->deliver(cache_evict_result{true, {}, std::move(evicted)});
    },
    [promise](const caf::error& error) {
      promise->deliver(refused_with<cache_evict_result>(failure_of(error, "cache eviction")));
    },
    evict_atom::value, std::move(request.model_id));
  return *promise;
}

} // namespace modeld::actors
