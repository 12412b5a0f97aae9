// Discovery benchmark. Prints, in one run, for a generated tree of small model files (10,000
// unless an argument gives the count) spread over 100 directories:
//  1. the first scan, which opens and sniffs every file;
//  2. a rescan with nothing changed (median of 5; target < 2 s), which only lists and stats;
//  3. the baseline `find ROOT -type f | xargs stat > /dev/null` on the same tree (median of 5),
//     and the ratio of the two.
// The tree lives in a temporary directory and is removed afterwards.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catalog/discovery.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace modeld::catalog;

namespace {

constexpr int runs = 5;
constexpr std::size_t directories = 100;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// A safetensors file with an empty header, padded to 16 bytes as the reference writer pads.
std::string model_bytes() {
  std::string header = "{}";
  header.resize(16, ' ');
  std::string out(8, '\0');
  out[0] = static_cast<char>(header.size());
  return out + header;
}

bool make_tree(const fs::path& root, std::size_t files) {
  const auto bytes = model_bytes();
  for (std::size_t i = 0; i < files; ++i) {
    const auto dir = root / ("group_" + std::to_string(i % directories));
    if (i < directories)
      fs::create_directories(dir);
    std::ofstream out(dir / ("model_" + std::to_string(i) + ".safetensors"), std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out)
      return false;
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t files = argc > 1 ? std::stoul(argv[1]) : 10'000;
  std::string pattern = (fs::temp_directory_path() / "rescan_bench.XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const auto root = fs::canonical(pattern).string();
  struct cleanup {
    std::string path;
    ~cleanup() {
      std::error_code ignored;
      fs::remove_all(path, ignored);
    }
  } remove_tree{root};

  if (!make_tree(root, files)) {
    std::fprintf(stderr, "cannot write the tree under %s\n", root.c_str());
    return 1;
  }
  const std::vector<std::string> roots{root};

  const auto first_start = clock_type::now();
  const auto first = discover(roots, {});
  const double first_scan = seconds_since(first_start);
  if (first.changed.size() != files || !first.errors.empty()) {
    std::fprintf(stderr, "first scan: %zu of %zu files, %zu errors\n", first.changed.size(), files,
                 first.errors.size());
    return 1;
  }
  std::map<std::string, known_file> known;
  for (const auto& file : first.changed)
    known.emplace(file.model_id, known_file{file.root, file.size_bytes, file.mtime_ns});

  std::vector<double> rescans;
  for (int run = 0; run < runs; ++run) {
    const auto start = clock_type::now();
    const auto again = discover(roots, known);
    rescans.push_back(seconds_since(start));
    if (again.unchanged.size() != files || !again.changed.empty() || !again.removed.empty() ||
        !again.errors.empty()) {
      std::fprintf(stderr, "rescan: %zu unchanged of %zu\n", again.unchanged.size(), files);
      return 1;
    }
  }

  const auto baseline_command = "find '" + root + "' -type f | xargs stat > /dev/null";
  std::vector<double> baselines;
  for (int run = 0; run < runs; ++run) {
    const auto start = clock_type::now();
    if (std::system(baseline_command.c_str()) != 0) {
      std::fprintf(stderr, "baseline failed: %s\n", baseline_command.c_str());
      return 1;
    }
    baselines.push_back(seconds_since(start));
  }

  const double rescan = median(rescans);
  const double baseline = median(baselines);
  std::printf("tree: %zu files in %zu directories (page cache warm: it was just written)\n", files,
              std::min(files, directories));
  std::printf("first scan (lstat + open + 64-byte sniff each): %.3f s\n", first_scan);
  std::printf("rescan, nothing changed: median %.3f s, min %.3f s (target < 2 s)\n", rescan,
              *std::min_element(rescans.begin(), rescans.end()));
  std::printf("find -type f | xargs stat: median %.3f s, min %.3f s\n", baseline,
              *std::min_element(baselines.begin(), baselines.end()));
  std::printf("rescan / baseline = %.3f\n", rescan / baseline);
  return rescan < 2.0 ? 0 : 1;
}
