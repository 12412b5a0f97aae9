// Node-local references inside messages that can be serialized. Some message members must not
// be copied, or cannot be: host buffers of gigabytes, open file descriptors, parsed reports,
// loaded weights, cancel flags, progress callbacks and the closures the worker pools and the
// gateways run. They stay in the process that made them. When such a message is serialized
// (to cross a node), each of those members is written as a reference, this process's random
// token and an id in a table of this process, never its bytes; read back in the same process,
// the reference resolves to the very object, while in another process it resolves to nothing
// (a null pointer, an empty function), and the receiver treats it as absent. So every message
// type has an inspect overload and can cross a node, and what must stay on its node does.
//
// Objects held by shared_ptr are referenced weakly (the table never keeps a buffer alive);
// values (functions) are copied into the table and taken out when read back. Entries nobody
// read back are swept after a minute.
#pragma once

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <memory>
#include <type_traits>

namespace modeld::actors {

namespace local_refs {
// Random per process: a reference made elsewhere never resolves here.
std::uint64_t process_token();
std::uint64_t put_weak(std::weak_ptr<const void> object);
std::uint64_t put_value(std::shared_ptr<const void> value);
// The object of `id` if this process made it (and it still lives); null otherwise. Values are
// taken out of the table; weak entries stay until they expire.
std::shared_ptr<const void> take(std::uint64_t process, std::uint64_t id);
} // namespace local_refs

template <class T>
struct local_field {
  T& value;
};

// A member written as a node-local reference: f(..., local(x.buffer), ...).
template <class T>
local_field<T> local(T& value) {
  return {value};
}

namespace detail {
template <class T>
struct shared_element {
  using type = void;
};
template <class U>
struct shared_element<std::shared_ptr<U>> {
  using type = U;
};
} // namespace detail

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, local_field<T>& x) {
  using element = typename detail::shared_element<T>::type;
  constexpr bool is_shared = !std::is_void_v<element>;
  std::uint64_t process = 0, id = 0;
  if constexpr (Inspector::reads_state) {
    process = local_refs::process_token();
    if constexpr (is_shared)
      id = x.value ? local_refs::put_weak(std::shared_ptr<const void>(std::static_pointer_cast<const element>(x.value)))
                   : 0;
    else
      id = local_refs::put_value(std::make_shared<const T>(x.value));
  }
  auto resolve = [&] {
    if constexpr (Inspector::writes_state) {
      auto found = local_refs::take(process, id);
      if constexpr (is_shared)
        x.value = std::const_pointer_cast<element>(std::static_pointer_cast<const element>(found));
      else
        x.value = found ? *std::static_pointer_cast<const T>(found) : T{};
    }
  };
  if constexpr (std::is_void_v<typename Inspector::result_type>) {
    f(caf::meta::type_name("local_ref"), process, id);
    resolve();
  } else {
    auto result = f(caf::meta::type_name("local_ref"), process, id);
    if (!result)
      resolve();
    return result;
  }
}

} // namespace modeld::actors
