#pragma once

// Writes pickle opcode streams by hand, so tests control every byte a hostile file could hold.

#include "bytes.hpp"

namespace modeld::formats::test {

class pickle_builder {
public:
  pickle_builder& proto(std::uint8_t version) { return op(0x80).byte(version); }
  pickle_builder& op(std::uint8_t code) { out_.push_back(code); return *this; }
  pickle_builder& byte(std::uint8_t b) { out_.push_back(b); return *this; }
  pickle_builder& raw(std::string_view s) { put_str(out_, s); return *this; }
  pickle_builder& global(std::string_view module, std::string_view name) {
    return op('c').raw(module).raw("\n").raw(name).raw("\n");
  }
  pickle_builder& unicode(std::string_view s) { // SHORT_BINUNICODE or BINUNICODE
    if (s.size() < 256)
      return op(0x8c).byte(static_cast<std::uint8_t>(s.size())).raw(s);
    op('X');
    put<std::uint32_t>(out_, static_cast<std::uint32_t>(s.size()));
    return raw(s);
  }
  pickle_builder& binint1(std::uint8_t v) { return op('K').byte(v); }
  pickle_builder& binint(std::int32_t v) { op('J'); put(out_, v); return *this; }
  pickle_builder& binput(std::uint8_t i) { return op('q').byte(i); }
  pickle_builder& binget(std::uint8_t i) { return op('h').byte(i); }
  pickle_builder& mark() { return op('('); }
  pickle_builder& tuple() { return op('t'); }
  pickle_builder& empty_tuple() { return op(')'); }
  pickle_builder& empty_dict() { return op('}'); }
  pickle_builder& reduce() { return op('R'); }
  pickle_builder& setitems() { return op('u'); }
  pickle_builder& stack_global() { return op(0x93); }
  pickle_builder& stop() { return op('.'); }

  // ('storage', torch.<type>, key, 'cpu', numel) as BINPERSID.
  pickle_builder& storage(std::string_view type, std::string_view key, std::uint8_t numel) {
    mark().unicode("storage").global("torch", type).unicode(key).unicode("cpu").binint1(numel);
    return tuple().op('Q');
  }
  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  pickle_builder& tensor(std::string_view type, std::string_view key, std::uint8_t numel,
                         std::initializer_list<std::uint8_t> shape) {
    global("torch._utils", "_rebuild_tensor_v2").mark();
    storage(type, key, numel).binint1(0);
    mark();
    for (auto d : shape)
      binint1(d);
    tuple().mark();
    std::uint8_t stride = 1;
    std::vector<std::uint8_t> strides;
    for (auto it = shape.end(); it != shape.begin();) {
      --it;
      strides.insert(strides.begin(), stride);
      stride = static_cast<std::uint8_t>(stride * *it);
    }
    for (auto s : strides)
      binint1(s);
    tuple().op(0x89).global("collections", "OrderedDict").empty_tuple().reduce();
    return tuple().reduce();
  }

  bytes build() const { return out_; }

private:
  bytes out_;
};

} // namespace modeld::formats::test
