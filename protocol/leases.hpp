// Leases as the front end keeps them (post_model_load with lease: true): each connection's own,
// given back when the connection closes, and every lease by id, so that the holder of a lease
// a forced unload revoked hears of it. The devices keep the leases themselves; this is only
// who to tell and what to give back.
#pragma once

#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace modeld::protocol {

// The leases of one connection. Thread-safe: requests and revocations reach it from any thread.
class connection_leases {
public:
  // The most leases one connection may hold at once (a limit against abuse: each is kept here,
  // in the registry and on a device until released).
  static constexpr std::size_t max_leases = 1024;

  // `notify` sends an event line to the connection; it may be called from any thread.
  connection_leases(std::uint64_t connection, std::function<void(boost::json::object)> notify);

  std::uint64_t connection() const { return connection_; }
  std::string client() const;
  void set_client(std::string client); // as hello names it

  void add(const std::string& lease_id);
  bool remove(const std::string& lease_id);
  bool contains(const std::string& lease_id) const;
  std::size_t size() const;
  std::vector<std::string> take_all(); // the connection closed
  void notify(boost::json::object event) const;

private:
  const std::uint64_t connection_;
  const std::function<void(boost::json::object)> notify_;
  mutable std::mutex mutex_;
  std::string client_;
  std::set<std::string> ids_;
};

class lease_registry {
public:
  // A new lease id: "lease-" and 16 random hex digits, never given before by this process.
  std::string make_id();

  void add(const std::string& lease_id, const std::shared_ptr<connection_leases>& holder);
  // The lease was given back (release, or its connection closed), or never taken (its load
  // failed): forgotten here and by its connection.
  void forget(const std::string& lease_id);
  // A forced unload took the lease: its connection forgets it and hears `event`.
  void revoked(const std::string& lease_id, boost::json::object event);

private:
  std::shared_ptr<connection_leases> take(const std::string& lease_id);

  std::mutex mutex_;
  std::mt19937_64 random_{std::random_device{}()};
  std::unordered_map<std::string, std::weak_ptr<connection_leases>> holders_;
};

} // namespace modeld::protocol
