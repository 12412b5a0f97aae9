#include "gpu/device_spec.hpp"

#include "gpu/byte_size.hpp"

#include <charconv>

namespace modeld::gpu {
namespace {

constexpr int max_device_index = 1023;

std::variant<device_request, std::string> parse_one(std::string_view item) {
  std::optional<std::string_view> budget_text;
  if (auto eq = item.find('='); eq != std::string_view::npos) {
    budget_text = item.substr(eq + 1);
    item = item.substr(0, eq);
  }
  auto colon = item.find(':');
  if (colon == std::string_view::npos)
    return "device '" + std::string{item} + "' must look like cpu:N or cuda:N";
  auto kind_text = item.substr(0, colon);
  auto index_text = item.substr(colon + 1);
  device_request request{};
  if (kind_text == "cpu")
    request.kind = device_kind::cpu;
  else if (kind_text == "cuda")
    request.kind = device_kind::cuda;
  else
    return "unknown device kind '" + std::string{kind_text} + "' (cpu or cuda)";
  auto [end, ec] = std::from_chars(index_text.data(), index_text.data() + index_text.size(), request.index);
  if (ec != std::errc{} || end != index_text.data() + index_text.size() || request.index < 0 ||
      request.index > max_device_index)
    return "device index '" + std::string{index_text} + "' must be a number from 0 to 1023";
  if (budget_text) {
    auto budget = parse_byte_size(*budget_text);
    if (!budget || *budget == 0)
      return "memory budget '" + std::string{*budget_text} + "' of " + request.id() + " is not a size like 4GiB";
    request.budget_bytes = budget;
  }
  return request;
}

} // namespace

std::string_view to_string(device_kind kind) { return kind == device_kind::cpu ? "cpu" : "cuda"; }

std::string device_request::id() const { return std::string{to_string(kind)} + ":" + std::to_string(index); }

std::variant<device_spec, std::string> parse_device_spec(std::string_view text) {
  device_spec spec;
  if (text == "auto") {
    spec.automatic = true;
    return spec;
  }
  if (text.empty())
    return std::string{"--devices is empty (use auto or a list like cpu:0=4GiB)"};
  while (true) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    auto parsed = parse_one(item);
    if (auto* reason = std::get_if<std::string>(&parsed))
      return *reason;
    auto& request = std::get<device_request>(parsed);
    for (auto& existing : spec.devices)
      if (existing.id() == request.id())
        return "device " + request.id() + " is listed twice";
    spec.devices.push_back(request);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return spec;
}

} // namespace modeld::gpu
