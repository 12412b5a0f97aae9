#include "actors/request_watches.hpp"

namespace modeld::actors {

void request_watches::unwatch(const caf::actor_addr& target, std::uint64_t id) {
  if (auto it = watches_.find(target); it != watches_.end())
    it->second.erase(id);
}

void request_watches::on_down(const caf::down_msg& down) {
  auto it = watches_.find(down.source);
  if (it == watches_.end())
    return;
  auto watchers = std::move(it->second);
  watches_.erase(it);
  for (auto& [id, on_down] : watchers)
    on_down(down.reason);
}

} // namespace modeld::actors
