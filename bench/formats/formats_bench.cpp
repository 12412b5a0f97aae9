// formats benchmark. Prints, in one run:
//  1. safetensors header parse time for a 2,500-tensor header (target < 2 ms);
//  2. the comprehensive scan (SHA-256 + AutoV1/V2 + tensor-data SHA-256 + NaN/Inf) of a
//     generated safetensors file (2 GiB unless an argument gives the size in MiB), beside
//     `openssl dgst -sha256` and `sha256sum` timed on the same file (target: <= 1.15x openssl);
//  3. the scan's peak RSS for two file sizes, each measured in a fresh child process, to show it
//     does not grow with the file.
// The file lives in a temporary directory and is removed afterwards.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/inspect.hpp"
#include "formats/safetensors.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using namespace modeld::formats;

namespace {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::string header_for(std::size_t tensors, std::uint64_t elements_each, std::uint64_t& data_size) {
  std::string header = R"({"__metadata__":{"modelspec.title":"bench","format":"pt"})";
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors; ++i) {
    const auto bytes = elements_each * 2;
    header += ",\"model.diffusion_model.output_blocks." + std::to_string(i / 50) +
              ".1.transformer_blocks." + std::to_string(i % 50) + ".attn1.to_q.weight\":" +
              "{\"dtype\":\"F16\",\"shape\":[" + std::to_string(elements_each) + "]," +
              "\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  data_size = offset;
  return header;
}

void bench_header_parse() {
  std::uint64_t data_size = 0;
  const auto header = header_for(2500, 64, data_size);
  std::vector<std::uint8_t> file(8 + header.size() + data_size);
  const std::uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);
  std::memcpy(file.data() + 8, header.data(), header.size());
  std::vector<double> runs;
  for (int i = 0; i < 60; ++i) {
    issue_sink issues;
    const auto start = clock_type::now();
    const auto info = parse_safetensors(file, issues);
    runs.push_back(seconds_since(start) * 1e3);
    if (info.tensors.size() != 2500 || issues.has_errors()) {
      std::printf("header parse: unexpected result\n");
      std::exit(1);
    }
  }
  std::sort(runs.begin(), runs.end());
  std::printf("header parse (2,500 tensors, %zu KiB JSON): median %.3f ms, min %.3f ms "
              "(target < 2 ms)\n",
              header.size() / 1024, runs[runs.size() / 2], runs.front());
}

// A safetensors file of about `size` bytes made of 64 MiB F16 tensors of finite values.
void write_model(const fs::path& path, std::uint64_t size) {
  const std::uint64_t tensor_bytes = 64ULL << 20;
  const std::size_t count = std::max<std::uint64_t>(1, size / tensor_bytes);
  std::uint64_t data_size = 0;
  const auto header = header_for(count, tensor_bytes / 2, data_size);
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t length = header.size();
  out.write(reinterpret_cast<const char*>(&length), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::vector<std::uint16_t> chunk(4 << 20);
  std::uint32_t state = 12345;
  for (auto& v : chunk) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<std::uint16_t>((state >> 16) & 0x3BFF); // exponent never all ones
  }
  for (std::uint64_t written = 0; written < data_size; written += chunk.size() * 2)
    out.write(reinterpret_cast<const char*>(chunk.data()),
              static_cast<std::streamsize>(std::min<std::uint64_t>(chunk.size() * 2, data_size - written)));
}

// First word of a command's output (the digest of `openssl dgst -sha256 -r`).
std::string first_word(const std::string& command) {
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[256];
    if (std::fgets(buffer, sizeof buffer, pipe) != nullptr)
      out = buffer;
    pclose(pipe);
  }
  return out.substr(0, out.find(' '));
}

double time_command(const std::string& command) {
  const auto start = clock_type::now();
  if (std::system((command + " > /dev/null").c_str()) != 0)
    return -1;
  return seconds_since(start);
}

struct scan_figures {
  double seconds = 0;
  std::string sha256;
  long max_rss_kib = 0;
};

scan_figures time_scan(const fs::path& path) {
  inspect_options options;
  options.level = validation_level::comprehensive;
  const auto start = clock_type::now();
  const auto report = inspect_file(path, options);
  scan_figures out;
  out.seconds = seconds_since(start);
  if (report.checksums)
    out.sha256 = report.checksums->sha256;
  return out;
}

// Runs the scan in a fresh child so ru_maxrss is the scan's own peak, not this process's.
long child_scan_rss(const fs::path& path) {
  const pid_t pid = fork();
  if (pid == 0) {
    time_scan(path);
    _exit(0);
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  return usage.ru_maxrss;
}

} // namespace

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2048;
  const std::uint64_t size = mib << 20;
  bench_header_parse();

  const auto dir = fs::temp_directory_path() / ("modeld_formats_bench_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const auto big = dir / "model.safetensors";
  const auto small = dir / "small.safetensors";
  write_model(big, size);
  write_model(small, std::max<std::uint64_t>(256ULL << 20, size / 4));
  const auto actual = fs::file_size(big);
  const double gib = static_cast<double>(actual) / (1ULL << 30);
  std::printf("file: %.2f GiB (page cache warm: it was just written)\n", gib);

  time_scan(big); // warm-up pass, also pulls the file fully into the page cache
  const auto scan = time_scan(big);
  const double openssl = time_command("openssl dgst -sha256 " + big.string());
  const double sha256sum = time_command("sha256sum " + big.string());
  const auto scan_again = time_scan(big);
  const double best_scan = std::min(scan.seconds, scan_again.seconds);
  std::printf("comprehensive scan (sha256+autov1/v2+tensor sha256+NaN/Inf, 2 threads): %.3f s, "
              "%.2f GB/s\n", best_scan, static_cast<double>(actual) / best_scan / 1e9);
  std::printf("openssl dgst -sha256:  %.3f s, %.2f GB/s\n", openssl,
              static_cast<double>(actual) / openssl / 1e9);
  std::printf("sha256sum:             %.3f s, %.2f GB/s\n", sha256sum,
              static_cast<double>(actual) / sha256sum / 1e9);
  std::printf("scan / openssl = %.3f (target <= 1.15)\n", best_scan / openssl);

  const auto rss_small = child_scan_rss(small);
  const auto rss_big = child_scan_rss(big);
  std::printf("peak RSS of a scan: %.1f MiB for %.2f GiB, %.1f MiB for %.2f GiB\n",
              rss_small / 1024.0, static_cast<double>(fs::file_size(small)) / (1ULL << 30),
              rss_big / 1024.0, gib);
  const auto reference = first_word("openssl dgst -sha256 -r " + big.string());
  std::printf("sha256 %s (%s openssl)\n", scan.sha256.c_str(),
              reference == scan.sha256 ? "matches" : "DIFFERS FROM");
  fs::remove_all(dir);
  return 0;
}
