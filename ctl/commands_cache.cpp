#include "ctl/commands.hpp"

#include "ctl/human.hpp"
#include "ctl/table.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

void print_cache(const answer& a, std::ostream& out) {
  auto& c = a.data;
  out << "RAM cache: " << bytes(c, {"used_bytes"}) << " of " << bytes(c, {"budget_bytes"}) << " (shared components save "
      << bytes(c, {"shared_bytes_saved"}) << "); hits "
      << text(c, {"statistics", "hits"}) << ", misses " << text(c, {"statistics", "misses"}) << ", evictions "
      << text(c, {"statistics", "evictions"}) << ", read " << bytes(c, {"statistics", "bytes_read"}) << '\n';
  auto* entries = find(c, {"entries"});
  if (entries == nullptr || !entries->is_array() || entries->get_array().empty()) {
    out << "no entries\n";
    return;
  }
  table rows({"MODEL", "SIZE", "PINNED", "IN USE", "CACHED", "LAST USED"});
  rows.align_right(1);
  for (auto& entry : entries->get_array())
    rows.add_row({text(entry, {"model_id"}), bytes(entry, {"bytes"}), text(entry, {"pinned"}), text(entry, {"in_use"}),
                  time_of_ms(find(entry, {"cached_at_ms"})), time_of_ms(find(entry, {"last_used_ms"}))});
  out << '\n';
  rows.print(out);
}

void print_cached(const answer& a, std::ostream& out) {
  auto& c = a.data;
  out << text(c, {"model_id"}) << " (" << bytes(c, {"bytes"}) << "): ";
  if (text(c, {"cached"}) != "yes")
    out << "not cached, it is larger than the cache's budget\n";
  else if (text(c, {"from_cache"}) == "yes")
    out << "already in the cache\n";
  else
    out << "read into the cache in " << millis(find(c, {"disk_to_host_ms"})) << '\n';
}

void print_evicted(const answer& a, std::ostream& out) {
  auto evicted = text(a.data, {"evicted"});
  out << (evicted == "-" ? std::string{"nothing was cached"} : "evicted " + evicted) << '\n';
}

} // namespace

void add_cache_commands(CLI::App& app, invocation& chosen) {
  auto* cache = app.add_subcommand("cache", "The RAM cache of model files that loads copy from");
  cache->require_subcommand(1);

  auto listed = std::make_shared<std::string>();
  auto* ls = cache->add_subcommand("ls", "Entries, budget and hit statistics (get_model_cache)");
  auto* listed_option = ls->add_option("model_id", *listed, "Only this model's entry");
  ls->callback([&chosen, listed, listed_option] {
    chosen = {"get_model_cache", {}, false, print_cache};
    if (*listed_option)
      chosen.data["model_id"] = *listed;
  });

  auto added = std::make_shared<std::string>();
  auto* add = cache->add_subcommand("add", "Read a model file into the cache (post_model_cache)");
  add->add_option("model_id", *added, "The model's id")->required();
  add->callback([&chosen, added] { chosen = {"post_model_cache", {{"model_id", *added}}, false, print_cached}; });

  auto removed = std::make_shared<std::string>();
  auto* rm = cache->add_subcommand("rm", "Evict a model, or --all (delete_model_cache)");
  auto* removed_option = rm->add_option("model_id", *removed, "The model's id");
  auto* all = rm->add_flag("--all")->description("Evict every entry")->excludes(removed_option);
  rm->callback([&chosen, removed, removed_option, all] {
    // Without a model modeld evicts everything: ask for that in words.
    if (!*removed_option && !*all)
      throw CLI::ValidationError("cache rm", "name a model or --all");
    chosen = {"delete_model_cache", {}, false, print_evicted};
    if (*removed_option)
      chosen.data["model_id"] = *removed;
  });
}

} // namespace modeld::ctl
