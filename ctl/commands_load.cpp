#include "ctl/commands.hpp"

#include "ctl/human.hpp"
#include "ctl/table.hpp"

#include <CLI/CLI.hpp>

#include <memory>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

void print_load(const answer& a, std::ostream& out) {
  auto from_cache = text(a.data, {"from_cache"}) == "yes";
  out << "loaded " << text(a.data, {"model_id"}) << " on " << text(a.data, {"device_id"}) << " in "
      << millis(find(a.data, {"load_time_ms"})) << (from_cache ? " from the RAM cache" : " from disk") << '\n';
  std::vector<std::pair<std::string, std::string>> fields{
    {"memory", bytes(a.data, {"memory_used_bytes"})},
    {"dtype", text(a.data, {"dtype"})},
    {"components", text(a.data, {"components"})}};
  for (auto [key, label] : {std::pair{"disk_to_host_ms", "disk to host"}, std::pair{"host_to_device_ms", "host to device"},
                            std::pair{"disk_to_device_ms", "disk to device"}})
    if (auto* stage = find(a.data, {"timings", key}))
      fields.emplace_back(label, millis(stage));
  if (auto* shared = find(a.data, {"shared_components"}); shared && shared->is_array() && !shared->get_array().empty())
    fields.emplace_back("shared", text(shared) + " (" + bytes(a.data, {"shared_bytes"}) + " held already)");
  if (auto* evicted = find(a.data, {"evicted"}); evicted && evicted->is_array() && !evicted->get_array().empty())
    fields.emplace_back("evicted", text(evicted) + " (" + text(a.data, {"eviction", "policy"}) + ")");
  print_fields(out, fields);
}

void add_load(CLI::App& app, invocation& chosen) {
  struct flags {
    std::string model_id, device, dtype, priority;
    std::vector<std::string> components;
    std::int64_t keep_alive_ms = -1;
  };
  auto f = std::make_shared<flags>();
  auto* sub = app.add_subcommand("load", "Load a model into a device's memory (post_model_load)");
  sub->add_option("model_id", f->model_id, "The model's id")->required();
  auto* device = sub->add_option("--device", f->device, "cpu:0, cuda:1, ... (default: the ready device with most free memory)");
  auto* dtype = sub->add_option("--dtype", f->dtype, "auto (as stored), fp32, fp16 or bf16")
                  ->check(CLI::IsMember({"auto", "fp32", "fp16", "bf16"}, CLI::ignore_case));
  auto* components = sub->add_option("--components", f->components, "Only these parts, e.g. unet,vae")->delimiter(',');
  auto* evict = sub->add_flag("--evict")->description("Unload models by the server's eviction rule when that makes room");
  auto* keep_alive = sub->add_option("--keep-alive-ms", f->keep_alive_ms, "Unload it after this long unused (-1: keep)")
                       ->check(CLI::Range(std::int64_t{-1}, std::int64_t{365} * 24 * 3600 * 1000));
  auto* pin = sub->add_flag("--pin")->description("Never evict it");
  auto* priority = sub->add_option("--priority", f->priority, "low, normal or high: eviction takes lower ones first")
                     ->check(CLI::IsMember({"low", "normal", "high"}, CLI::ignore_case));
  sub->callback([&chosen, f, device, dtype, components, evict, keep_alive, pin, priority] {
    chosen = {"post_model_load", {{"model_id", f->model_id}}, true, print_load};
    if (*device)
      chosen.data["device_id"] = f->device;
    if (*dtype)
      chosen.data["dtype"] = f->dtype;
    if (*components) {
      json::array names;
      for (auto& name : f->components)
        names.emplace_back(name);
      chosen.data["components"] = std::move(names);
    }
    if (*evict)
      chosen.data["evict"] = true;
    if (*keep_alive)
      chosen.data["keep_alive_ms"] = f->keep_alive_ms;
    if (*pin)
      chosen.data["pinned"] = true;
    if (*priority)
      chosen.data["priority"] = f->priority;
  });
}

void print_unload(const answer& a, std::ostream& out) {
  auto* devices = find(a.data, {"devices"});
  if (devices && devices->is_array())
    for (auto& device : devices->get_array())
      if (auto* unloaded = find(device, {"unloaded"}); unloaded && unloaded->is_array() && !unloaded->get_array().empty())
        out << text(device, {"device_id"}) << ": unloaded " << text(unloaded) << " (" << bytes(device, {"freed_bytes"})
            << ")\n";
  out << "freed " << bytes(a.data, {"freed_bytes"}) << '\n';
  for (auto [key, what] : {std::pair{"kept_leased", "kept (leased)"}, std::pair{"revoked_leases", "revoked lease"}})
    if (auto* leases = find(a.data, {key}); leases && leases->is_array())
      for (auto& lease : leases->get_array())
        out << what << ": " << text(lease, {"model_id"}) << " on " << text(lease, {"device_id"}) << ", "
            << text(lease, {"lease_id"}) << " of connection " << text(lease, {"connection"}) << '\n';
}

void add_unload(CLI::App& app, invocation& chosen) {
  struct flags {
    std::string model_id, device;
  };
  auto f = std::make_shared<flags>();
  auto* sub = app.add_subcommand("unload", "Unload a model, or everything on a device (post_model_unload)");
  auto* id = sub->add_option("model_id", f->model_id, "The model's id (without it: everything on --device)");
  auto* device = sub->add_option("--device", f->device, "Only from this device");
  auto* all = sub->add_flag("--all")->description("Everything on every device")->excludes(id)->excludes(device);
  auto* force = sub->add_flag("--force")->description("Leased models too (their holders are told)");
  sub->callback([&chosen, f, id, device, all, force] {
    // modeld reads no model and no device as "everything everywhere": ask for that in words.
    if (!*id && !*device && !*all)
      throw CLI::ValidationError("unload", "name a model, a --device, or --all");
    chosen = {"post_model_unload", {}, false, print_unload};
    if (*id)
      chosen.data["model_id"] = f->model_id;
    if (*device)
      chosen.data["device_id"] = f->device;
    if (*force)
      chosen.data["force"] = true;
  });
}

void add_release(CLI::App& app, invocation& chosen) {
  auto lease_id = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("release", "Give back a lease, whichever connection holds it (release)");
  sub->add_option("lease_id", *lease_id, "The lease's id, as status lists it")->required();
  sub->callback([&chosen, lease_id] {
    chosen = {"release", {{"lease_id", *lease_id}}, false, [](const answer& a, std::ostream& out) {
                out << "released " << text(a.data, {"lease_id"}) << " on " << text(a.data, {"model_id"}) << " ("
                    << text(a.data, {"device_id"}) << ")\n";
              }};
  });
}

void print_benchmark(const answer& a, std::ostream& out) {
  auto& m = a.data;
  out << "benchmark of " << text(m, {"model_id"}) << " on " << text(m, {"system_info", "device"}) << '\n';
  std::vector<std::pair<std::string, std::string>> fields{
    {"load", "disk to host " + millis(find(m, {"metrics", "load_time_ms", "disk_to_host"})) + ", host to device " +
               millis(find(m, {"metrics", "load_time_ms", "host_to_device"}))}};
  if (find(m, {"metrics", "inference_time_ms"})) {
    fields.emplace_back("inference", text(m, {"metrics", "kind"}) + ": median " +
                                       millis(find(m, {"metrics", "inference_time_ms", "median"})) + ", p95 " +
                                       millis(find(m, {"metrics", "inference_time_ms", "p95"})) + ", " +
                                       count(find(m, {"metrics", "throughput", "per_second"})) + "/s over " +
                                       text(m, {"metrics", "iterations"}) + " runs");
    if (auto* achieved = find(m, {"metrics", "throughput", "achieved_gflops"}))
      fields.emplace_back("GFLOP/s",
                          text(achieved) + " (plain matmul: " + text(m, {"metrics", "throughput", "baseline_gflops"}) + ")");
  }
  fields.emplace_back("memory", "model " + bytes(m, {"metrics", "memory_usage_bytes", "model"}) + ", peak " +
                                  bytes(m, {"metrics", "memory_usage_bytes", "peak"}));
  fields.emplace_back("device memory", bytes(m, {"system_info", "memory_used"}) + " used of " +
                                         bytes(m, {"system_info", "memory_budget"}));
  fields.emplace_back("torch", text(m, {"system_info", "torch_version"}) + ", " + text(m, {"system_info", "threads"}) +
                                 " threads");
  print_fields(out, fields);
}

void add_bench(CLI::App& app, invocation& chosen) {
  struct flags {
    std::string model_id, device, type;
    std::uint64_t iterations = 0, warmup = 0, batch = 0;
    std::vector<std::uint64_t> input_shape;
  };
  auto f = std::make_shared<flags>();
  auto* sub = app.add_subcommand("bench", "Benchmark a model's load and inference on a device (post_model_benchmark)");
  sub->add_option("model_id", f->model_id, "The model's id")->required();
  auto* device = sub->add_option("--device", f->device, "cpu:0, cuda:1, ... (default: chosen by modeld)");
  auto* iterations = sub->add_option("--iterations", f->iterations, "Measured runs (modeld's default 10)")
                       ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10000}));
  auto* warmup = sub->add_option("--warmup", f->warmup, "Unmeasured runs first (modeld's default 3)")
                   ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1000}));
  auto* type = sub->add_option("--type", f->type, "full (default), inference or load")
                 ->check(CLI::IsMember({"full", "inference", "load"}, CLI::ignore_case));
  auto* batch = sub->add_option("--batch", f->batch, "Rows of the generated input (modeld's default 8)")
                  ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{4096}));
  auto* shape = sub->add_option("--input-shape", f->input_shape, "TorchScript input shape, e.g. 1,16")->delimiter(',');
  sub->callback([&chosen, f, device, iterations, warmup, type, batch, shape] {
    chosen = {"post_model_benchmark", {{"model_id", f->model_id}}, true, print_benchmark};
    if (*device)
      chosen.data["device_id"] = f->device;
    if (*iterations)
      chosen.data["iterations"] = f->iterations;
    if (*warmup)
      chosen.data["warmup"] = f->warmup;
    if (*type)
      chosen.data["benchmark_type"] = f->type;
    if (*batch)
      chosen.data["batch"] = f->batch;
    if (*shape) {
      json::array sizes;
      for (auto size : f->input_shape)
        sizes.emplace_back(size);
      chosen.data["input_shape"] = std::move(sizes);
    }
  });
}

} // namespace

void add_load_commands(CLI::App& app, invocation& chosen) {
  add_load(app, chosen);
  add_unload(app, chosen);
  add_release(app, chosen);
  add_bench(app, chosen);
}

} // namespace modeld::ctl
