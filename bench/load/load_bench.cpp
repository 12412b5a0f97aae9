// load_bench: model loads measured beside baselines of the same bytes, in one run.
//   cold load, as the service does it on a cache miss   beside  `cat FILE > /dev/null`
//     (a virtual CPU device reads the file straight into its memory; the RAM cache is filled
//     after the load has answered)
//   cold load through a host buffer (file -> host -> device, the path of CUDA devices and
//     dtype conversions), for comparison
//   cache-hit load (host buffer -> device copy)          beside  a plain memcpy of the same bytes
// on a generated safetensors file (default 2 GiB, F16). Run: load_bench [MiB] [device]
// Status latency during a load is measured over TCP by bench/load/status_during_load.py.
#include "formats/inspect.hpp"
#include "gpu/model_loader.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
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

std::shared_ptr<gpu::loaded_weights> checked(std::variant<gpu::load_success, gpu::load_error> loaded) {
  if (auto* error = std::get_if<gpu::load_error>(&loaded)) {
    std::printf("load failed: %s\n", error->message.c_str());
    std::exit(1);
  }
  return std::get<gpu::load_success>(loaded).weights;
}

// The file opened as the service opens a model file: inside its root (formats::open_beneath).
gpu::file_reader open_in_root(const std::string& root, const std::string& path) {
  return gpu::file_reader::adopt(std::get<formats::unique_fd>(formats::open_beneath(root, path)), path);
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2048;
  constexpr int runs = 5;
  std::string device = argc > 2 ? argv[2] : "cpu";
  auto dir = std::filesystem::temp_directory_path() / ("load_bench_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "model.safetensors").string();
  const auto root = std::filesystem::canonical(dir).string();
  write_model(path, mib << 20, 64);
  auto report = formats::inspect_file(path, {formats::validation_level::basic, {}, nullptr});
  double gb = static_cast<double>(std::filesystem::file_size(path)) / 1e9;
  std::printf("file: %.2f GB, %zu tensors, device %s\n", gb, report.tensors.size(), device.c_str());

  // Warm the page cache so "cold" means page cache -> device, as for cat.
  std::system(("cat '" + path + "' > /dev/null").c_str());
  auto cat_s = median_seconds(runs, [&] { return std::system(("cat '" + path + "' > /dev/null").c_str()); });

  gpu::load_request request{device, {}, gpu::load_dtype::keep, nullptr, {}};
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

  std::printf("cold load (page cache -> device): %.3f s, %.2f GB/s | cat > /dev/null: %.3f s, %.2f GB/s | ratio %.2f "
              "(target >= 0.5)\n",
              cold_s, gb / cold_s, cat_s, gb / cat_s, cat_s / cold_s);
  std::printf("  (through a host buffer:        %.3f s, %.2f GB/s | ratio %.2f)\n", staged_s, gb / staged_s,
              cat_s / staged_s);
  std::printf("cache-hit load (host -> device):  %.3f s, %.2f GB/s | memcpy:           %.3f s, %.2f GB/s | ratio %.2f "
              "(target >= 0.7)\n",
              hit_s, gb / hit_s, memcpy_s, gb / memcpy_s, memcpy_s / hit_s);
  std::filesystem::remove_all(dir);
  return 0;
}
