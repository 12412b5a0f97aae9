#include "protocol/leases.hpp"

#include <cstdio>

namespace modeld::protocol {

connection_leases::connection_leases(std::uint64_t connection, std::function<void(boost::json::object)> notify)
  : connection_(connection), notify_(std::move(notify)) {}

std::string connection_leases::client() const {
  std::lock_guard lock{mutex_};
  return client_;
}

void connection_leases::set_client(std::string client) {
  std::lock_guard lock{mutex_};
  client_ = std::move(client);
}

void connection_leases::add(const std::string& lease_id) {
  std::lock_guard lock{mutex_};
  ids_.insert(lease_id);
}

bool connection_leases::remove(const std::string& lease_id) {
  std::lock_guard lock{mutex_};
  return ids_.erase(lease_id) > 0;
}

bool connection_leases::contains(const std::string& lease_id) const {
  std::lock_guard lock{mutex_};
  return ids_.count(lease_id) > 0;
}

std::size_t connection_leases::size() const {
  std::lock_guard lock{mutex_};
  return ids_.size();
}

std::vector<std::string> connection_leases::take_all() {
  std::lock_guard lock{mutex_};
  std::vector<std::string> all{ids_.begin(), ids_.end()};
  ids_.clear();
  return all;
}

void connection_leases::notify(boost::json::object event) const {
  if (notify_)
    notify_(std::move(event));
}

std::string lease_registry::make_id() {
  std::lock_guard lock{mutex_};
  for (;;) {
    char id[32];
    std::snprintf(id, sizeof id, "lease-%016llx", static_cast<unsigned long long>(random_()));
    if (holders_.count(id) == 0)
      return id;
  }
}

void lease_registry::add(const std::string& lease_id, const std::shared_ptr<connection_leases>& holder) {
  std::lock_guard lock{mutex_};
  holders_[lease_id] = holder;
}

std::shared_ptr<connection_leases> lease_registry::take(const std::string& lease_id) {
  std::lock_guard lock{mutex_};
  auto it = holders_.find(lease_id);
  if (it == holders_.end())
    return nullptr;
  auto holder = it->second.lock();
  holders_.erase(it);
  return holder;
}

void lease_registry::forget(const std::string& lease_id) {
  if (auto holder = take(lease_id))
    holder->remove(lease_id);
}

void lease_registry::revoked(const std::string& lease_id, boost::json::object event) {
  if (auto holder = take(lease_id); holder && holder->remove(lease_id))
    holder->notify(std::move(event));
}

} // namespace modeld::protocol
