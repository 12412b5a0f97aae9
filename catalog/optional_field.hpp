// Lets a CAF inspector (serializer, deserializer, printer) take a std::optional member, which
// CAF 0.17 does not know: written as a presence flag, then the value when present. Free of CAF
// itself (inspect overloads are found by argument-dependent lookup), so catalog/ stays a layer
// under actors/.
#pragma once

#include <optional>
#include <utility>

namespace modeld::catalog {

template <class T>
struct optional_field {
  std::optional<T>& value;
};

template <class T>
optional_field<T> optional_of(std::optional<T>& value) {
  return {value};
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, optional_field<T>& x) {
  if constexpr (Inspector::writes_state) {
    bool present = false;
    auto err = f(present);
    x.value.reset();
    if (err || !present)
      return err;
    T value{};
    err = f(value);
    if (!err)
      x.value = std::move(value);
    return err;
  } else {
    bool present = x.value.has_value();
    if (!present)
      return f(present);
    return f(present, *x.value);
  }
}

} // namespace modeld::catalog
