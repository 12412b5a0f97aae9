#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::formats {

enum class severity { error, warning, info };

std::string_view to_string(severity level);

// Where in the file a problem sits; either part may be unknown.
struct issue_location {
  std::optional<std::string> tensor;
  std::optional<std::uint64_t> offset;
};

// One finding about a file. `code` is a stable UPPER_SNAKE identifier clients switch on;
// `message` is for humans and may change.
struct issue {
  std::string code;
  severity level = severity::error;
  std::string message;
  issue_location location;
};

// Collects issues while a parser runs. Parsers stop adding after `max_issues` so a file with
// millions of broken entries cannot make the report itself unbounded.
class issue_sink {
public:
  static constexpr std::size_t max_issues = 1000;

  void error(std::string_view code, std::string message, issue_location where = {});
  void warning(std::string_view code, std::string message, issue_location where = {});
  void info(std::string_view code, std::string message, issue_location where = {});
  void add(issue item);
  void append(const std::vector<issue>& items);

  bool has_errors() const noexcept { return errors_ > 0; }
  bool has(std::string_view code) const noexcept;
  const std::vector<issue>& items() const noexcept { return items_; }
  std::vector<issue> take() noexcept { return std::move(items_); }

private:
  std::vector<issue> items_;
  std::size_t errors_ = 0;
  bool truncated_ = false;
};

// Names and messages in issues are cut to a bounded length: a hostile file with a 50 MB tensor
// name and thousands of problems must not copy that name into every issue.
inline constexpr std::size_t max_issue_name = 256;
inline constexpr std::size_t max_issue_message = 2048;
std::string clip(std::string_view text, std::size_t max = max_issue_name);

inline issue_location at_offset(std::uint64_t offset) { return {std::nullopt, offset}; }
inline issue_location at_tensor(std::string_view name) { return {clip(name), std::nullopt}; }
inline issue_location at_tensor(std::string_view name, std::uint64_t offset) {
  return {clip(name), offset};
}

bool has_error(const std::vector<issue>& items) noexcept;
// The first issue of severity error, or null.
const issue* first_error(const std::vector<issue>& items) noexcept;
bool has_code(const std::vector<issue>& items, std::string_view code) noexcept;

} // namespace modeld::formats
