// The --config file: `name = value` lines naming the flags without their dashes
// (`listen = "127.0.0.1:7311"`, `model-root = ["/srv/a", "/srv/b"]`,
// `enable-fault-injection = true`), `#` or `;` comments and blank lines. CLI11's own reader
// skips lines it cannot read and keys it does not know, so a typo would silently run modeld
// with defaults; this reader refuses both.
#pragma once

#include <CLI/CLI.hpp>

#include <istream>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace modeld::runtime {

// Why the config text cannot be used ("line 3: unknown key 'listne'"), or none when every line
// is a comment, blank, `[default]`, or `known_key = value` (an array may span lines).
std::optional<std::string> config_text_error(std::istream& text, const std::set<std::string>& known_keys);

// CLI11's TOML reader behind config_text_error: its error becomes a CLI::ConfigError.
class strict_config : public CLI::ConfigTOML {
public:
  explicit strict_config(std::set<std::string> known_keys) : known_keys_(std::move(known_keys)) {}
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

private:
  std::set<std::string> known_keys_;
};

} // namespace modeld::runtime
