#include "ctl/commands.hpp"

#include "ctl/human.hpp"
#include "ctl/table.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

std::string model_ids(const json::value* loaded_models) {
  std::string ids;
  if (auto* array = loaded_models ? loaded_models->if_array() : nullptr)
    for (auto& model : *array)
      ids += (ids.empty() ? "" : ", ") + text(model, {"model_id"});
  return ids.empty() ? "-" : ids;
}

// Both status shapes list devices the same way (README, get_device_status).
void print_devices(const json::value& data, std::ostream& out) {
  table devices({"DEVICE", "STATE", "USED", "BUDGET", "FREE", "SHARED", "RESTARTS", "MODELS"});
  devices.align_right(2).align_right(3).align_right(4).align_right(5).align_right(6);
  if (auto* array = data.is_object() ? find(data, {"devices"}) : nullptr; array && array->is_array())
    for (auto& device : array->get_array())
      devices.add_row({text(device, {"device_id"}), text(device, {"state"}), bytes(device, {"memory", "used"}),
                       bytes(device, {"memory", "budget"}), bytes(device, {"memory", "free"}),
                       bytes(device, {"memory", "shared_saved"}), text(device, {"restarts"}), model_ids(find(device, {"loaded_models"}))});
  devices.print(out);
}

void print_services(const json::value& data, std::ostream& out) {
  auto* services = find(data, {"services"});
  if (services == nullptr || !services->is_array() || services->get_array().empty())
    return;
  table rows({"SERVICE", "STATE", "RESTARTS", "LAST ERROR"});
  rows.align_right(2);
  for (auto& service : services->get_array())
    rows.add_row({text(service, {"name"}), text(service, {"state"}), text(service, {"restarts"}),
                  text(service, {"last_error"})});
  out << '\n';
  rows.print(out);
}

void print_loaded(const json::value& data, std::ostream& out) {
  auto* loaded = find(data, {"loaded_models"});
  if (loaded == nullptr || !loaded->is_array() || loaded->get_array().empty())
    return;
  table rows({"LOADED MODEL", "DEVICE", "DTYPE", "SIZE", "COMPONENTS"});
  rows.align_right(3);
  for (auto& model : loaded->get_array())
    rows.add_row({text(model, {"model_id"}), text(model, {"device_id"}), text(model, {"dtype"}),
                  bytes(model, {"bytes"}), text(model, {"components"})});
  out << '\n';
  rows.print(out);
}

void print_status(const answer& a, std::ostream& out) {
  out << "health: " << text(a.data, {"overall_health"}) << " (" << text(a.data, {"statistics", "devices_reachable"})
      << " of " << text(a.data, {"statistics", "devices_total"}) << " devices reachable)\n\n";
  print_devices(a.data, out);
  print_loaded(a.data, out);
  print_services(a.data, out);
  out << "\ncache: " << bytes(a.data, {"cache", "used_bytes"}) << " of " << bytes(a.data, {"cache", "budget_bytes"})
      << "; hits " << text(a.data, {"cache", "statistics", "hits"}) << ", misses "
      << text(a.data, {"cache", "statistics", "misses"}) << ", evictions "
      << text(a.data, {"cache", "statistics", "evictions"}) << '\n'
      << "loads " << text(a.data, {"statistics", "loads"}) << ", unloads " << text(a.data, {"statistics", "unloads"})
      << ", evictions " << text(a.data, {"statistics", "evictions"}) << '\n';
}

void add_status(CLI::App& app, invocation& chosen) {
  auto device = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("status", "Overall health, devices, loaded models, services and cache (get_model_status)");
  auto* device_option = sub->add_option("--device", *device, "Only this device (cpu:0, cuda:1, ...)");
  sub->callback([&chosen, device, device_option] {
    chosen = {"get_model_status", {}, false, print_status};
    if (*device_option)
      chosen.data["device_id"] = *device;
  });
}

void add_devices(CLI::App& app, invocation& chosen) {
  auto device = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("devices", "Devices with state, memory and loaded models (get_device_status)");
  auto* device_option = sub->add_option("--device", *device, "Only this device");
  sub->callback([&chosen, device, device_option] {
    chosen = {"get_device_status", {}, false, [](const answer& a, std::ostream& out) { print_devices(a.data, out); }};
    if (*device_option)
      chosen.data["device_id"] = *device;
  });
}

void add_ping(CLI::App& app, invocation& chosen) {
  auto* sub = app.add_subcommand("ping", "Check that modeld answers (ping)");
  sub->callback([&chosen] {
    chosen = {"ping", {}, false, [](const answer& a, std::ostream& out) {
                char took[32];
                std::snprintf(took, sizeof took, "%.2f", a.round_trip_ms);
                out << "modeld at " << a.server << " answered in " << took << " ms\n";
              }};
  });
}

void add_fault(CLI::App& app, invocation& chosen) {
  struct flags {
    std::string target, mode;
    std::uint64_t duration_ms = 0;
  };
  auto f = std::make_shared<flags>();
  auto* sub = app.add_subcommand("fault", "Inject a fault for testing (inject_fault; modeld needs --enable-fault-injection)");
  sub->add_option("target", f->target, "device:<id>, cache, metadata_store or validation")->required();
  sub->add_option("mode", f->mode, "crash, hang, slow or oom")
    ->required()
    ->check(CLI::IsMember({"crash", "hang", "slow", "oom"}, CLI::ignore_case));
  auto* duration = sub->add_option("--duration-ms", f->duration_ms, "How long it lasts (modeld's default: 10000)")
                     ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{600000}));
  sub->callback([&chosen, f, duration] {
    chosen = {"inject_fault", {{"target", f->target}, {"mode", f->mode}}, false, [](const answer& a, std::ostream& out) {
                out << "injected " << text(a.data, {"mode"}) << " on " << text(a.data, {"target"}) << " for "
                    << text(a.data, {"duration_ms"}) << " ms\n";
              }};
    if (*duration)
      chosen.data["duration_ms"] = f->duration_ms;
  });
}

} // namespace

void add_system_commands(CLI::App& app, invocation& chosen) {
  add_status(app, chosen);
  add_devices(app, chosen);
  add_ping(app, chosen);
  add_fault(app, chosen);
}

} // namespace modeld::ctl
