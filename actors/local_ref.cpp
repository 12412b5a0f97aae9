#include "actors/local_ref.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <variant>

namespace modeld::actors::local_refs {
namespace {

using clock = std::chrono::steady_clock;
constexpr auto unread_lifetime = std::chrono::minutes(1);
constexpr std::size_t sweep_above = 1024;

struct entry {
  std::variant<std::weak_ptr<const void>, std::shared_ptr<const void>> object;
  clock::time_point made;
};

struct table {
  std::mutex mutex;
  std::uint64_t next = 0;
  std::map<std::uint64_t, entry> entries;

  std::uint64_t put(entry e) {
    std::lock_guard lock{mutex};
    if (entries.size() > sweep_above)
      sweep(e.made);
    entries.emplace(++next, std::move(e));
    return next;
  }

  void sweep(clock::time_point now) {
    for (auto it = entries.begin(); it != entries.end();) {
      auto* weak = std::get_if<std::weak_ptr<const void>>(&it->second.object);
      bool gone = (weak && weak->expired()) || now - it->second.made > unread_lifetime;
      it = gone ? entries.erase(it) : std::next(it);
    }
  }
};

table& the_table() {
  static table t;
  return t;
}

} // namespace

std::uint64_t process_token() {
  static const std::uint64_t token = [] {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device() ^ 1; // never 0, the token of no reference
  }();
  return token;
}

std::uint64_t put_weak(std::weak_ptr<const void> object) {
  return the_table().put({std::move(object), clock::now()});
}

std::uint64_t put_value(std::shared_ptr<const void> value) {
  return the_table().put({std::move(value), clock::now()});
}

std::shared_ptr<const void> take(std::uint64_t process, std::uint64_t id) {
  if (id == 0 || process != process_token())
    return nullptr;
  auto& t = the_table();
  std::lock_guard lock{t.mutex};
  auto it = t.entries.find(id);
  if (it == t.entries.end())
    return nullptr;
  if (auto* weak = std::get_if<std::weak_ptr<const void>>(&it->second.object))
    return weak->lock();
  auto value = std::get<std::shared_ptr<const void>>(std::move(it->second.object));
  t.entries.erase(it);
  return value;
}

} // namespace modeld::actors::local_refs
