// The --devices flag: `auto`, or a list such as `cpu:0=4GiB,cpu:1=4GiB,cuda:0=20GiB`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace modeld::gpu {

enum class device_kind { cpu, cuda };

std::string_view to_string(device_kind kind);

struct device_request {
  device_kind kind;
  int index;
  std::optional<std::uint64_t> budget_bytes; // none: the whole device
  std::string id() const;                    // "cpu:0"
};

struct device_spec {
  bool automatic = false;
  std::vector<device_request> devices; // empty when automatic
};

// Returns the spec, or a one-line reason it is malformed.
std::variant<device_spec, std::string> parse_device_spec(std::string_view text);

} // namespace modeld::gpu
