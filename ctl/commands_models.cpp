#include "ctl/commands.hpp"

#include "ctl/human.hpp"
#include "ctl/table.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

void print_model_list(const answer& a, std::ostream& out) {
  table rows({"MODEL", "FORMAT", "TYPE", "ARCHITECTURE", "PRECISION", "SIZE", "PARAMS", "VALID", "LOADED"});
  rows.align_right(5).align_right(6);
  auto* models = find(a.data, {"models"});
  std::size_t shown = 0;
  if (models && models->is_array())
    for (auto& model : models->get_array()) {
      rows.add_row({text(model, {"model_id"}), text(model, {"format"}), text(model, {"type"}),
                    text(model, {"architecture"}), text(model, {"precision"}), bytes(model, {"size_bytes"}),
                    count(find(model, {"parameter_count"})), text(model, {"is_valid"}), text(model, {"loaded"})});
      ++shown;
    }
  rows.print(out);
  auto total = text(a.data, {"total"});
  auto offset = text(a.data, {"offset"});
  if (total == std::to_string(shown) && offset == "0")
    out << total << (shown == 1 ? " model\n" : " models\n");
  else
    out << shown << " of " << total << " models from offset " << offset << " (--offset, --limit)\n";
}

void print_components(const json::value* components, std::ostream& out) {
  if (components == nullptr || !components->is_array() || components->get_array().empty())
    return;
  table rows({"COMPONENT", "TENSORS", "PARAMS", "SIZE", "DTYPES"});
  rows.align_right(1).align_right(2).align_right(3);
  for (auto& component : components->get_array())
    rows.add_row({text(component, {"name"}), text(component, {"tensor_count"}),
                  count(find(component, {"parameter_count"})), bytes(component, {"bytes"}), text(component, {"dtypes"})});
  out << '\n';
  rows.print(out);
}

void print_model(const answer& a, std::ostream& out) {
  auto* model = find(a.data, {"model"});
  const json::value& m = model ? *model : a.data;
  auto valid = text(m, {"is_valid"});
  if (valid == "no")
    valid += " (" + text(m, {"invalid_reason"}) + ")";
  print_fields(out, {{"model", text(m, {"model_id"})},
                     {"name", text(m, {"name"})},
                     {"path", text(m, {"path"})},
                     {"format", text(m, {"format"})},
                     {"type", text(m, {"type"})},
                     {"architecture", text(m, {"architecture"})},
                     {"precision", text(m, {"precision"})},
                     {"size", bytes(m, {"size_bytes"}) + " (" + text(m, {"size_bytes"}) + " bytes)"},
                     {"parameters", text(m, {"parameter_count"})},
                     {"tags", text(m, {"tags"})},
                     {"valid", valid},
                     {"loaded", text(m, {"loaded"})},
                     {"sha256", text(m, {"checksum"})},
                     {"autov2", text(m, {"autov2"})},
                     {"revision", text(m, {"revision"})},
                     {"discovered", text(m, {"discovered_at"})},
                     {"updated", text(m, {"updated_at"})}});
  print_components(find(m, {"components"}), out);
}

void add_models(CLI::App& app, invocation& chosen) {
  struct flags {
    std::string type, architecture, format, tag, model_id;
    std::uint64_t offset = 0, limit = 0;
  };
  auto f = std::make_shared<flags>();
  auto* sub = app.add_subcommand("models", "List the catalog's models, filtered (get_models); `models show ID` for one");
  auto* type = sub->add_option("--type", f->type, "checkpoint, unet, vae, text_encoder, lora, controlnet, llm, unknown");
  auto* architecture = sub->add_option("--architecture", f->architecture, "sd1, sd2, sdxl, flux, vae, lora, llama, ...");
  auto* format = sub->add_option("--format", f->format, "safetensors, pytorch_zip, pickle, torchscript, gguf, onnx, unknown");
  auto* tag = sub->add_option("--tag", f->tag, "Only models with this tag (any case)");
  auto* loaded = sub->add_flag("--loaded")->description("Only models loaded on a device");
  auto* not_loaded = sub->add_flag("--not-loaded")->description("Only models not loaded")->excludes(loaded);
  auto* offset = sub->add_option("--offset", f->offset, "Skip this many matches (paging)");
  auto* limit = sub->add_option("--limit", f->limit, "At most this many (modeld's default 100, at most 1000)")
                  ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000}));
  sub->callback([&chosen, f, sub, type, architecture, format, tag, loaded, not_loaded, offset, limit] {
    if (sub->got_subcommand("show"))
      return; // `models show ID` fills `chosen` itself
    chosen = {"get_models", {}, false, print_model_list};
    for (auto [option, field, value] : {std::tuple{type, "type", &f->type},
                                        std::tuple{architecture, "architecture", &f->architecture},
                                        std::tuple{format, "format", &f->format},
                                        std::tuple{tag, "tag", &f->tag}})
      if (*option)
        chosen.data[field] = *value;
    if (*loaded || *not_loaded)
      chosen.data["loaded"] = static_cast<bool>(*loaded);
    if (*offset)
      chosen.data["offset"] = f->offset;
    if (*limit)
      chosen.data["limit"] = f->limit;
  });

  auto* show = sub->add_subcommand("show", "One model with its components (get_model)");
  show->add_option("model_id", f->model_id, "The model's id (its path under its root)")->required();
  show->callback([&chosen, f] { chosen = {"get_model", {{"model_id", f->model_id}}, false, print_model}; });
}

void print_scan(const answer& a, std::ostream& out) {
  out << "added " << text(a.data, {"added"}) << ", updated " << text(a.data, {"updated"}) << ", removed "
      << text(a.data, {"removed"}) << ", unchanged " << text(a.data, {"unchanged"}) << '\n';
  auto* errors = find(a.data, {"errors"});
  if (errors == nullptr || !errors->is_array() || errors->get_array().empty())
    return;
  table rows({"PATH", "CODE", "MESSAGE"});
  for (auto& error : errors->get_array())
    rows.add_row({text(error, {"path"}), text(error, {"code"}), text(error, {"message"})});
  out << '\n';
  rows.print(out);
}

void add_scan(CLI::App& app, invocation& chosen) {
  auto root = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("scan", "Rescan the model roots for new, changed and removed files (post_model_scan)");
  auto* root_option = sub->add_option("--root", *root, "Only this root (one that modeld serves)");
  sub->callback([&chosen, root, root_option] {
    chosen = {"post_model_scan", {}, true, print_scan};
    if (*root_option)
      chosen.data["root"] = *root;
  });
}

void print_validation(const answer& a, std::ostream& out) {
  auto valid = find(a.data, {"is_valid"});
  out << text(a.data, {"model_id"}) << ": " << (valid && valid->is_bool() && valid->get_bool() ? "valid" : "INVALID")
      << " (" << text(a.data, {"validation_details", "format"}) << ", " << text(a.data, {"validation_details", "level"})
      << " validation" << (text(a.data, {"from_cache"}) == "yes" ? ", from cache" : "") << ")\n";
  std::vector<std::pair<std::string, std::string>> facts{
    {"architecture", text(a.data, {"data", "architecture"})},
    {"type", text(a.data, {"data", "type"})},
    {"precision", text(a.data, {"data", "precision"})},
    {"parameters", text(a.data, {"data", "parameter_count"})},
    {"tensors", text(a.data, {"data", "tensor_count"})},
    {"tensor bytes", bytes(a.data, {"data", "tensor_bytes"})},
    {"unsafe globals", text(a.data, {"validation_details", "security", "unsafe_globals"})}};
  if (auto* sha256 = find(a.data, {"validation_details", "checksums", "sha256"}))
    facts.emplace_back("sha256", text(sha256));
  print_fields(out, facts);
  auto* issues = find(a.data, {"issues"});
  if (issues == nullptr || !issues->is_array() || issues->get_array().empty()) {
    out << "no issues\n";
    return;
  }
  table rows({"SEVERITY", "CODE", "MESSAGE", "LOCATION"});
  for (auto& issue : issues->get_array())
    rows.add_row({text(issue, {"severity"}), text(issue, {"code"}), text(issue, {"message"}), text(issue, {"location"})});
  out << '\n';
  rows.print(out);
}

void add_validate(CLI::App& app, invocation& chosen) {
  struct flags {
    std::string model_id, path, level;
  };
  auto f = std::make_shared<flags>();
  auto* sub = app.add_subcommand("validate", "Validate a model file: structure, security, checksums (post_model_validate)");
  auto* id = sub->add_option("model_id", f->model_id, "The model's id");
  auto* path = sub->add_option("--path", f->path, "A file inside a model root instead of an id")->excludes(id);
  auto* level = sub->add_option("--level", f->level, "basic, standard (modeld's default) or comprehensive (hashes too)")
                  ->check(CLI::IsMember({"basic", "standard", "comprehensive"}, CLI::ignore_case));
  sub->callback([&chosen, f, id, path, level] {
    if (!*id && !*path)
      throw CLI::ValidationError("validate", "name a model id or a --path");
    chosen = {"post_model_validate", {}, true, print_validation};
    if (*id)
      chosen.data["model_id"] = f->model_id;
    else
      chosen.data["model_path"] = f->path;
    if (*level)
      chosen.data["validation_level"] = f->level;
  });
}

void print_results(const answer& a, std::ostream& out) {
  auto* results = find(a.data, {"results"});
  if (results == nullptr || !results->is_array() || results->get_array().empty()) {
    out << "no benchmark results for " << text(a.data, {"model_id"}) << '\n';
    return;
  }
  table rows({"MEASURED", "DEVICE", "KIND", "ITERATIONS", "DISK->HOST", "HOST->DEVICE", "MEDIAN", "P95", "PEAK", "GFLOP/S"});
  for (std::size_t c = 3; c < 10; ++c)
    rows.align_right(c);
  for (auto& r : results->get_array())
    rows.add_row({time_of_ms(find(r, {"measured_at_ms"})), text(r, {"device_id"}), text(r, {"metrics", "kind"}),
                  text(r, {"metrics", "iterations"}), millis(find(r, {"metrics", "load_time_ms", "disk_to_host"})),
                  millis(find(r, {"metrics", "load_time_ms", "host_to_device"})),
                  millis(find(r, {"metrics", "inference_time_ms", "median"})),
                  millis(find(r, {"metrics", "inference_time_ms", "p95"})),
                  bytes(r, {"metrics", "memory_usage_bytes", "peak"}),
                  text(r, {"metrics", "throughput", "achieved_gflops"})});
  rows.print(out);
}

void add_results(CLI::App& app, invocation& chosen) {
  auto model_id = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("results", "A model's stored benchmark results, oldest first (get_model_benchmark_results)");
  sub->add_option("model_id", *model_id, "The model's id")->required();
  sub->callback([&chosen, model_id] {
    chosen = {"get_model_benchmark_results", {{"model_id", *model_id}}, false, print_results};
  });
}

} // namespace

void add_model_commands(CLI::App& app, invocation& chosen) {
  add_models(app, chosen);
  add_scan(app, chosen);
  add_validate(app, chosen);
  add_results(app, chosen);
}

} // namespace modeld::ctl
