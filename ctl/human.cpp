#include "ctl/human.hpp"

#include "gpu/byte_size.hpp"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <ctime>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

std::string fixed(double number, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, number);
  return buffer;
}

} // namespace

const json::value* find(const json::value& root, std::initializer_list<std::string_view> path) {
  const json::value* at = &root;
  for (auto key : path) {
    auto* object = at->if_object();
    if (object == nullptr)
      return nullptr;
    at = object->if_contains(key);
    if (at == nullptr)
      return nullptr;
  }
  return at;
}

std::string text(const json::value* value) {
  if (value == nullptr || value->is_null())
    return "-";
  if (value->is_string())
    return std::string{value->get_string()};
  if (value->is_bool())
    return value->get_bool() ? "yes" : "no";
  if (value->is_double()) {
    auto shown = fixed(value->get_double(), 3);
    while (shown.back() == '0')
      shown.pop_back();
    if (shown.back() == '.')
      shown.pop_back();
    return shown;
  }
  if (auto* array = value->if_array()) {
    if (array->empty())
      return "-";
    std::string joined;
    for (auto& item : *array)
      joined += (joined.empty() ? "" : ", ") + text(&item);
    return joined;
  }
  return json::serialize(*value);
}

std::string text(const json::value& root, std::initializer_list<std::string_view> path) {
  return text(find(root, path));
}

std::string bytes(const json::value* value) {
  if (value == nullptr)
    return "-";
  if (value->is_uint64())
    return gpu::format_byte_size(value->get_uint64());
  if (value->is_int64() && value->get_int64() >= 0)
    return gpu::format_byte_size(static_cast<std::uint64_t>(value->get_int64()));
  return "-";
}

std::string bytes(const json::value& root, std::initializer_list<std::string_view> path) {
  return bytes(find(root, path));
}

std::string millis(const json::value* value) {
  if (value == nullptr || !value->is_number())
    return "-";
  double ms = value->to_number<double>();
  return fixed(ms, ms < 1 ? 3 : ms < 10 ? 2 : 1) + " ms";
}

std::string count(const json::value* value) {
  if (value == nullptr || !value->is_number())
    return "-";
  double n = value->to_number<double>();
  if (n >= 1e9)
    return fixed(n / 1e9, 2) + "G";
  if (n >= 1e6)
    return fixed(n / 1e6, 2) + "M";
  if (n >= 1e4)
    return fixed(n / 1e3, 1) + "K";
  return fixed(n, 0);
}

std::string time_of_ms(const json::value* value) {
  if (value == nullptr || !value->is_number())
    return "-";
  auto seconds = static_cast<std::time_t>(value->to_number<double>() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

} // namespace modeld::ctl
