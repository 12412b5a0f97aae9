#include "runtime/config_file.hpp"

#include <sstream>

namespace modeld::runtime {
namespace {

std::string trimmed(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos)
    return {};
  auto last = text.find_last_not_of(" \t\r");
  return std::string{text.substr(first, last - first + 1)};
}

bool is_quoted(const std::string& text) {
  return text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front();
}

} // namespace

std::optional<std::string> config_text_error(std::istream& text, const std::set<std::string>& known_keys) {
  std::string line;
  std::size_t number = 0, array_opened_on = 0;
  while (std::getline(text, line)) {
    ++number;
    auto at = "line " + std::to_string(number) + ": ";
    auto content = trimmed(line);
    if (content.empty() || content.front() == '#' || content.front() == ';')
      continue;
    if (array_opened_on != 0) {
      if (content.back() == ']')
        array_opened_on = 0;
      continue;
    }
    if (content == "[default]")
      continue;
    if (content.front() == '[')
      return at + "sections are not supported; write `name = value` lines";
    auto equals = content.find('=');
    if (equals == std::string::npos)
      return at + "'" + content + "' is not `name = value`";
    auto key = trimmed(std::string_view{content}.substr(0, equals));
    if (is_quoted(key))
      key = key.substr(1, key.size() - 2);
    auto value_text = std::string_view{content}.substr(equals + 1);
    auto value = trimmed(value_text.substr(0, value_text.find('#'))); // a comment may follow, as CLI11 reads it
    if (key.empty())
      return at + "'" + content + "' names no flag";
    if (!known_keys.contains(key))
      return at + "unknown key '" + key + "' (keys are the flag names without --, such as listen)";
    if (value.empty())
      return at + key + " has no value";
    if (value == "[")
      return at + "an array must begin on its key's line: " + key + " = [\"first\", ...";
    if ((value.front() == '"' || value.front() == '\'') && !is_quoted(value))
      return at + "the value of " + key + " has no closing quote";
    // CLI11 reads on past a line only for an array begun on it: `[` alone does not start one.
    if (value.size() > 1 && value.front() == '[' && value.back() != ']')
      array_opened_on = number;
  }
  if (array_opened_on != 0)
    return "line " + std::to_string(array_opened_on) + ": the array is not closed with ]";
  return std::nullopt;
}

std::vector<CLI::ConfigItem> strict_config::from_config(std::istream& input) const {
  std::stringstream text;
  text << input.rdbuf();
  if (auto error = config_text_error(text, known_keys_))
    throw CLI::ConfigError(*error);
  text.clear();
  text.seekg(0);
  return CLI::ConfigTOML::from_config(text);
}

} // namespace modeld::runtime
