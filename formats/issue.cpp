#include "formats/issue.hpp"

#include <algorithm>

namespace modeld::formats {

std::string_view to_string(severity level) {
  switch (level) {
    case severity::error: return "error";
    case severity::warning: return "warning";
    case severity::info: return "info";
  }
  return "error";
}

std::string clip(std::string_view text, std::size_t max) {
  if (text.size() <= max)
    return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

void issue_sink::add(issue item) {
  if (item.message.size() > max_issue_message)
    item.message = clip(item.message, max_issue_message);
  if (item.level == severity::error)
    ++errors_;
  if (items_.size() >= max_issues) {
    // Keep the error count truthful even when the list is cut, so validity stays correct.
    if (!truncated_) {
      truncated_ = true;
      items_.push_back({"TOO_MANY_ISSUES", severity::warning,
                        "issue list truncated after " + std::to_string(max_issues) + " entries",
                        {}});
    }
    // The first error always shows, so "valid" can be read off the list itself.
    if (item.level == severity::error && errors_ == 1)
      items_.push_back(std::move(item));
    return;
  }
  items_.push_back(std::move(item));
}

void issue_sink::error(std::string_view code, std::string message, issue_location where) {
  add({std::string(code), severity::error, std::move(message), std::move(where)});
}

void issue_sink::warning(std::string_view code, std::string message, issue_location where) {
  add({std::string(code), severity::warning, std::move(message), std::move(where)});
}

void issue_sink::info(std::string_view code, std::string message, issue_location where) {
  add({std::string(code), severity::info, std::move(message), std::move(where)});
}

void issue_sink::append(const std::vector<issue>& items) {
  for (const auto& item : items)
    add(item);
}

bool issue_sink::has(std::string_view code) const noexcept { return has_code(items_, code); }

bool has_error(const std::vector<issue>& items) noexcept { return first_error(items) != nullptr; }

const issue* first_error(const std::vector<issue>& items) noexcept {
  const auto it =
    std::find_if(items.begin(), items.end(), [](const issue& i) { return i.level == severity::error; });
  return it == items.end() ? nullptr : &*it;
}

bool has_code(const std::vector<issue>& items, std::string_view code) noexcept {
  return std::any_of(items.begin(), items.end(), [&](const issue& i) { return i.code == code; });
}

} // namespace modeld::formats
