// load_bench: model loads measured beside baselines of the same bytes, in one run, on a
// generated safetensors file (default 2 GiB, F16). Run: load_bench [MiB] [device] [--tsv]
// On a virtual CPU device:
//   cold load, as the service does it on a cache miss   beside  `cat FILE > /dev/null`
//     (the device reads the file straight into its memory; the RAM cache fills afterwards)
//   cold load through a host buffer (file -> host -> device, the path of CUDA devices and
//     dtype conversions), for comparison
//   cache-hit load (host buffer -> device copy)          beside  a plain memcpy of the same bytes
// On a CUDA device (cuda:N, in a build whose libtorch has CUDA):
//   cache-hit load (pinned host buffer -> device)        beside  a bare cudaMemcpy of the same
//                                                        bytes from that pinned memory
//   cold load (page cache -> pinned buffer -> device)    beside  `cat` and that bare copy
//   unload, and the device memory it returned (cudaMemGetInfo before the load, with it
//   loaded, and after), beside what torch's caching allocator still reserves
// Each figure is printed with its baseline, their ratio and the target; --tsv prints the same
// rows tab-separated (scripts/gpu-check.sh reads them). Status latency during a load is
// measured over TCP by bench/load/status_during_load.py.
#include "formats/inspect.hpp"
#include "gpu/devices.hpp"
#include "gpu/model_loader.hpp"

#ifdef MODELD_TORCH_HAS_CUDA
#include "bench/load/cuda_copy.hpp"
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace modeld;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// A safetensors file of `tensors` F16 tensors totalling about `bytes`.
void write_model(const std::string& path, std::uint64_t bytes, int tensors) {
  std::uint64_t per = (bytes / tensors) & ~std::uint64_t{1};
  std::string header = "{";
  std::uint64_t offset = 0;
  for (int i = 0; i < tensors; ++i) {
    // Appends, not operator+ chains: g++ 12 -O3 warns (-Wrestrict, a false positive) on those.
    header.append(i ? ",\"w" : "\"w").append(std::to_string(i)).append("\":{\"dtype\":\"F16\",\"shape\":[");
    header.append(std::to_string(per / 2)).append("],\"data_offsets\":[").append(std::to_string(offset));
    header.append(",").append(std::to_string(offset + per)).append("]}");
    offset += per;
  }
  header += "}";
  while (header.size() % 8)
    header += ' ';
  std::ofstream out(path, std::ios::binary);
  std::uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out << header;
  std::vector<char> chunk(64 << 20);
  for (std::size_t i = 0; i < chunk.size(); ++i)
    chunk[i] = static_cast<char>(i * 7);
  for (std::uint64_t left = offset; left > 0;) {
    auto n = std::min<std::uint64_t>(left, chunk.size());
    out.write(chunk.data(), static_cast<std::streamsize>(n));
    left -= n;
  }
}

// Median time of `runs` calls of `run`. What a call returns (the loaded weights) is freed after
// its time is taken: an unload is not part of a load.
template <class F>
double median_seconds(int runs, F&& run) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto start = clock_type::now();
    [[maybe_unused]] auto result = run(); // freed after the time is taken
    times.push_back(seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// The generated file's directory, removed on every way out.
std::filesystem::path scratch_dir;

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "load_bench: %s\n", message.c_str());
  std::filesystem::remove_all(scratch_dir);
  std::exit(1);
}

std::shared_ptr<gpu::loaded_weights> checked(std::variant<gpu::load_success, gpu::load_error> loaded) {
  if (auto* error = std::get_if<gpu::load_error>(&loaded))
    fail("load failed: " + error->message);
  return std::get<gpu::load_success>(loaded).weights;
}

// The file opened as the service opens a model file: inside its root (formats::open_beneath).
gpu::file_reader open_in_root(const std::string& root, const std::string& path) {
  return gpu::file_reader::adopt(std::get<formats::unique_fd>(formats::open_beneath(root, path)), path);
}

// One line of the table: a figure, its baseline, baseline time / figure's time, and the target
// that ratio must reach (none: printed for comparison only).
struct row {
  std::string figure, measured, baseline, ratio, target, verdict;
};

std::string format(const char* pattern, auto... values) {
  char text[256];
  std::snprintf(text, sizeof text, pattern, values...);
  return text;
}

std::string rate(double seconds, double gb) { return format("%.3f s, %.2f GB/s", seconds, gb / seconds); }

row compared(std::string figure, double seconds, std::string baseline, double baseline_seconds, double gb,
             std::optional<double> target) {
  const double ratio = baseline_seconds / seconds;
  return {std::move(figure),
          rate(seconds, gb),
          std::move(baseline),
          format("%.2f", ratio),
          target ? format(">= %.2f", *target) : "-",
          target ? (ratio >= *target ? "met" : "MISSED") : "-"};
}

void print(const std::vector<row>& rows, bool tsv) {
  auto cells = [](const row& r) {
    return std::array<const std::string*, 6>{&r.figure, &r.measured, &r.baseline, &r.ratio, &r.target, &r.verdict};
  };
  if (tsv) {
    for (const auto& r : rows) {
      const auto c = cells(r);
      std::printf("%s\t%s\t%s\t%s\t%s\t%s\n", c[0]->c_str(), c[1]->c_str(), c[2]->c_str(), c[3]->c_str(),
                  c[4]->c_str(), c[5]->c_str());
    }
    return;
  }
  std::vector<row> table{{"FIGURE", "MEASURED", "BASELINE", "RATIO", "TARGET", "VERDICT"}};
  table.insert(table.end(), rows.begin(), rows.end());
  std::array<int, 6> width{};
  for (const auto& r : table)
    for (std::size_t i = 0; i < width.size(); ++i)
      width[i] = std::max(width[i], static_cast<int>(cells(r)[i]->size()));
  for (const auto& r : table) {
    const auto c = cells(r);
    for (std::size_t i = 0; i + 1 < c.size(); ++i)
      std::printf("%-*s  ", width[i], c[i]->c_str());
    std::printf("%s\n", c.back()->c_str());
  }
}

// A virtual CPU device: the cold load as the service does it (straight from the file where it
// can), the same through a host buffer, and a cache hit beside memcpy.
std::vector<row> cpu_figures(const formats::model_report& report, const std::string& root, const std::string& path,
                             const gpu::load_request& request, double cat_s, double gb, int runs) {
  auto cold_s = median_seconds(runs, [&] {
    return checked(gpu::loads_from_file(report, request)
                     ? gpu::load_weights_from_file(report, open_in_root(root, path), request)
                     : gpu::load_weights(report, *std::get<0>(gpu::read_host_buffer(path)), request));
  });
  auto staged_s = median_seconds(runs, [&] {
    auto buffer = std::get<std::shared_ptr<const gpu::host_buffer>>(gpu::read_host_buffer(path));
    return std::make_pair(buffer, checked(gpu::load_weights(report, *buffer, request)));
  });
  auto buffer = std::get<std::shared_ptr<const gpu::host_buffer>>(gpu::read_host_buffer(path));
  auto hit_s = median_seconds(runs, [&] { return checked(gpu::load_weights(report, *buffer, request)); });
  std::vector<char> target(buffer->size());
  auto memcpy_s = median_seconds(runs, [&] { return std::memcpy(target.data(), buffer->data(), buffer->size()); });
  const auto& device = request.device;
  return {compared("cold load (page cache -> " + device + ")", cold_s, "cat > /dev/null: " + rate(cat_s, gb), cat_s,
                   gb, 0.5),
          compared("cold load through a host buffer", staged_s, "cat > /dev/null: " + rate(cat_s, gb), cat_s, gb,
                   std::nullopt),
          compared("cache-hit load (host -> " + device + ")", hit_s, "memcpy: " + rate(memcpy_s, gb), memcpy_s, gb,
                   0.7)};
}

#ifdef MODELD_TORCH_HAS_CUDA
template <class T>
T or_exit(std::variant<T, std::string> result) {
  if (auto* error = std::get_if<std::string>(&result))
    fail("CUDA failed: " + *error);
  return std::get<T>(result);
}

// A CUDA device: a cache hit from the pinned host buffer beside a bare copy of the same bytes
// from it, the cold load (the service's miss: a new pinned buffer read from the page cache,
// then copied) beside cat and that copy, and an unload with the memory the driver got back.
std::vector<row> cuda_figures(const formats::model_report& report, const std::string& path,
                              const gpu::load_request& request, double cat_s, double gb, int runs) {
  const int index = std::stoi(request.device.substr(5));
  auto buffer = std::get<std::shared_ptr<const gpu::host_buffer>>(gpu::read_host_buffer(path));
  // The first load initialises torch's CUDA state; it is not a figure.
  checked(gpu::load_weights(report, *buffer, request));
  auto hit_s = median_seconds(runs, [&] { return checked(gpu::load_weights(report, *buffer, request)); });
  const auto copy_s = or_exit(bench::bare_copy_seconds(buffer->data(), buffer->size(), index, runs));
  const std::string copy_name = buffer->pinned() ? "bare cudaMemcpy from pinned: " : "bare cudaMemcpy (NOT pinned): ";
  auto cold_s = median_seconds(runs, [&] {
    auto fresh = std::get<std::shared_ptr<const gpu::host_buffer>>(gpu::read_host_buffer(path));
    return std::make_pair(fresh, checked(gpu::load_weights(report, *fresh, request)));
  });
  std::vector<row> rows{
    compared("cache-hit load (pinned host -> " + request.device + ")", hit_s, copy_name + rate(copy_s, gb), copy_s,
             gb, 0.85),
    compared("cold load (page cache -> " + request.device + ")", cold_s,
             "slower of cat (" + rate(cat_s, gb) + ") and the bare copy", std::max(cat_s, copy_s), gb, 0.6)};
  if (!buffer->pinned())
    rows.back().verdict = rows.front().verdict = "MISSED (host buffer not pinned)";

  const auto before = or_exit(bench::device_memory_info(index));
  auto weights = checked(gpu::load_weights(report, *buffer, request));
  const auto loaded = or_exit(bench::device_memory_info(index));
  const auto bytes = weights->bytes();
  const auto started = clock_type::now();
  weights.reset(); // the last reference: torch frees the tensors and empties its cache
  const auto unload_s = seconds_since(started);
  const auto after = or_exit(bench::device_memory_info(index));
  const auto reserve = gpu::allocator_reserve_bytes(index);
  const auto taken = before.free_bytes - std::min(before.free_bytes, loaded.free_bytes);
  const auto kept = before.free_bytes - std::min(before.free_bytes, after.free_bytes);
  const auto gb_of = [](std::uint64_t bytes) { return static_cast<double>(bytes) / 1e9; };
  rows.push_back({"unload (" + request.device + ")",
                  format("%.3f s; returned %.3f of %.3f GB, kept %.1f MB", unload_s, gb_of(taken - std::min(taken, kept)),
                         gb_of(taken), static_cast<double>(kept) / 1e6),
                  format("cudaMemGetInfo free %.3f GB before, %.3f loaded (weights %.3f GB), %.3f after",
                         gb_of(before.free_bytes), gb_of(loaded.free_bytes), gb_of(bytes), gb_of(after.free_bytes)),
                  "-", format("kept <= allocator reserve (%.1f MB)", static_cast<double>(reserve) / 1e6),
                  kept <= reserve ? "met" : "MISSED"});
  return rows;
}
#endif

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const bool tsv = std::erase(args, "--tsv") > 0;
  std::uint64_t mib = args.size() > 0 ? std::strtoull(std::string(args[0]).c_str(), nullptr, 10) : 2048;
  constexpr int runs = 5;
  std::string device = args.size() > 1 ? std::string(args[1]) : "cpu";
  scratch_dir = std::filesystem::temp_directory_path() / ("load_bench_" + std::to_string(getpid()));
  std::filesystem::create_directories(scratch_dir);
  auto path = (scratch_dir / "model.safetensors").string();
  const auto root = std::filesystem::canonical(scratch_dir).string();
  write_model(path, mib << 20, 64);
  auto report = formats::inspect_file(path, {formats::validation_level::basic, {}, nullptr});
  double gb = static_cast<double>(std::filesystem::file_size(path)) / 1e9;
  if (!tsv)
    std::printf("file: %.2f GB, %zu tensors, device %s, medians of %d runs\n", gb, report.tensors.size(),
                device.c_str(), runs);

  // Warm the page cache so "cold" means page cache -> device, as for cat.
  std::system(("cat '" + path + "' > /dev/null").c_str());
  auto cat_s = median_seconds(runs, [&] { return std::system(("cat '" + path + "' > /dev/null").c_str()); });

  gpu::load_request request{device, {}, gpu::load_dtype::keep, nullptr, {}};
#ifdef MODELD_TORCH_HAS_CUDA
  const auto rows = device.starts_with("cuda:") ? cuda_figures(report, path, request, cat_s, gb, runs)
                                                : cpu_figures(report, root, path, request, cat_s, gb, runs);
#else
  const auto rows = cpu_figures(report, root, path, request, cat_s, gb, runs);
#endif
  print(rows, tsv);
  std::filesystem::remove_all(scratch_dir);
  return 0;
}
