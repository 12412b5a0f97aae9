#include "ctl/commands.hpp"

#include "ctl/human.hpp"
#include "ctl/table.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>

#include <array>
#include <memory>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

// The text fields put_model_metadata takes (PROTOCOL.md); `custom` is the one free-form map.
constexpr std::array<std::string_view, 6> text_fields{"name", "description", "author", "license", "source", "version"};

// Long embedded metadata (a safetensors __metadata__ block) would flood a terminal.
std::string shortened(std::string value, std::size_t limit = 120) {
  if (display_width(value) <= limit)
    return value;
  value.resize(limit);
  while (!value.empty() && (static_cast<unsigned char>(value.back()) & 0xC0) == 0x80)
    value.pop_back(); // never cut a UTF-8 sequence in half
  if (!value.empty())
    value.pop_back();
  return value + "... (--json shows all)";
}

void print_metadata(const answer& a, std::ostream& out) {
  auto& m = a.data;
  print_fields(out, {{"model", text(m, {"model_id"})},
                     {"name", text(m, {"name"})},
                     {"type", text(m, {"type"})},
                     {"architecture", text(m, {"architecture"})},
                     {"format", text(m, {"format"})},
                     {"precision", text(m, {"precision"})},
                     {"size", bytes(m, {"size_bytes"})},
                     {"parameters", text(m, {"parameter_count"})},
                     {"tags", text(m, {"tags"})},
                     {"description", text(m, {"description"})},
                     {"author", text(m, {"author"})},
                     {"license", text(m, {"license"})},
                     {"source", text(m, {"source"})},
                     {"version", text(m, {"version"})},
                     {"checksum", text(m, {"checksum"})},
                     {"revision", text(m, {"revision"})},
                     {"created", text(m, {"created_at"})},
                     {"updated", text(m, {"updated_at"})},
                     {"custom", shortened(text(m, {"custom"}))},
                     {"embedded", shortened(text(m, {"embedded"}))}});
}

// One --set KEY=VALUE into the metadata patch; a usage error for anything else.
void apply_setting(const std::string& setting, json::object& metadata) {
  auto equals = setting.find('=');
  if (equals == std::string::npos || equals == 0)
    throw CLI::ValidationError("--set", "'" + setting + "' is not KEY=VALUE");
  auto key = setting.substr(0, equals);
  auto value = setting.substr(equals + 1);
  if (key == "custom") {
    json::error_code ec;
    auto parsed = json::parse(value, ec);
    if (ec || !parsed.is_object())
      throw CLI::ValidationError("--set", "custom must be a JSON object, e.g. custom='{\"steps\":30}'");
    metadata["custom"] = std::move(parsed);
    return;
  }
  for (auto field : text_fields)
    if (key == field) {
      metadata[key] = value; // "" clears the field (README, put_model_metadata)
      return;
    }
  throw CLI::ValidationError("--set", "'" + key +
                                        "' is not a metadata field: name, description, author, license, source, "
                                        "version or custom (a JSON object)");
}

void add_get(CLI::App& meta, invocation& chosen) {
  auto model_id = std::make_shared<std::string>();
  auto* sub = meta.add_subcommand("get", "A model's metadata (get_model_metadata)");
  sub->add_option("model_id", *model_id, "The model's id")->required();
  sub->callback([&chosen, model_id] { chosen = {"get_model_metadata", {{"model_id", *model_id}}, false, print_metadata}; });
}

void add_set(CLI::App& meta, invocation& chosen) {
  struct flags {
    std::string model_id;
    std::vector<std::string> tags, settings;
    std::int64_t expected_revision = 0;
  };
  auto f = std::make_shared<flags>();
  auto* sub = meta.add_subcommand("set", "Change a model's metadata; fields not named stay (put_model_metadata)");
  sub->add_option("model_id", f->model_id, "The model's id")->required();
  auto* tags = sub->add_option("--tag", f->tags, "A tag (repeat for more); the tags given replace the model's tags");
  auto* no_tags = sub->add_flag("--no-tags")->description("Remove every tag")->excludes(tags);
  auto* settings = sub->add_option("--set", f->settings,
                                   "KEY=VALUE for name, description, author, license, source, version (\"\" clears "
                                   "it), or custom='{...}' (replaces the custom map); repeatable");
  auto* revision = sub->add_option("--expected-revision", f->expected_revision,
                                   "Refuse (CONFLICT) unless the metadata is still at this revision")
                     ->check(CLI::NonNegativeNumber);
  sub->callback([&chosen, f, tags, no_tags, settings, revision] {
    if (!*tags && !*no_tags && !*settings)
      throw CLI::ValidationError("meta set", "nothing to change: give --tag, --no-tags or --set");
    json::object metadata;
    for (auto& setting : f->settings)
      apply_setting(setting, metadata);
    if (*tags || *no_tags) {
      json::array list;
      for (auto& tag : f->tags)
        list.emplace_back(tag);
      metadata["tags"] = std::move(list);
    }
    chosen = {"put_model_metadata", {{"model_id", f->model_id}, {"metadata", std::move(metadata)}}, false,
              print_metadata};
    if (*revision)
      chosen.data["expected_revision"] = f->expected_revision;
  });
}

} // namespace

void add_meta_commands(CLI::App& app, invocation& chosen) {
  auto* meta = app.add_subcommand("meta", "Read or change a model's metadata");
  meta->require_subcommand(1);
  add_get(*meta, chosen);
  add_set(*meta, chosen);
}

} // namespace modeld::ctl
