// formats benchmark. Prints, in one run:
//  1. safetensors header parse time for a 2,500-tensor header (target < 2 ms);
//  2. the comprehensive scan (SHA-256 + AutoV1/V2 + tensor-data SHA-256 + NaN/Inf) of a
//     generated safetensors file (2 GiB unless an argument gives the size in MiB), beside
//     `openssl dgst -sha256` and `sha256sum` timed on the same file (target: <= 1.15x openssl);
//  3. the scan's peak RSS for two file sizes, each measured in a fresh child process, to show it
//     does not grow with the file;
//  4. the zip path: CRC-32 throughput, inflate throughput of a deflated pickle-like stream (as
//     Python's zlib writes it), and the comprehensive scan of a torch.save-style zip (stored
//     storages with data descriptors: CRC-32 of every storage in the streaming pass) of half
//     the size, beside `openssl dgst -sha256` on the same file.
// The files live in a temporary directory and are removed afterwards.

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
#include <string_view>
#include <vector>

#include <zlib.h>

#include "formats/crc32.hpp"
#include "formats/inflate.hpp"
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

template <typename T>
void put_le(std::string& out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xFF));
}

void put_unicode(std::string& pickle, const std::string& text) { // BINUNICODE
  pickle.push_back('X');
  put_le<std::uint32_t>(pickle, static_cast<std::uint32_t>(text.size()));
  pickle += text;
}

// data.pkl of torch.save({"layer.<i>.weight": float32 tensor of `numel`}, ...), protocol 2.
std::string state_dict_pickle(std::size_t tensors, std::uint32_t numel) {
  std::string p = "\x80\x02" "ccollections\nOrderedDict\n)R(";
  for (std::size_t i = 0; i < tensors; ++i) {
    put_unicode(p, "layer." + std::to_string(i) + ".weight");
    p += "ctorch._utils\n_rebuild_tensor_v2\n(";
    p += "(";
    put_unicode(p, "storage");
    p += "ctorch\nFloatStorage\n";
    put_unicode(p, std::to_string(i));
    put_unicode(p, "cpu");
    p.push_back('J');
    put_le<std::uint32_t>(p, numel);
    p += "tQ";                    // the persistent id
    p += "K";
    p.push_back('\0');            // storage offset
    p += "(J";
    put_le<std::uint32_t>(p, numel);
    p += "t(K\x01t\x89" "ccollections\nOrderedDict\n)RtR";
  }
  p += "u.";
  return p;
}

// A torch.save-style zip of about `size` bytes: 64 MiB float32 storages written as torch does
// (stored, flag bit 3 with a data descriptor after each entry). CRCs come from zlib here, so
// the file does not depend on the code under test.
void write_torch_zip(const fs::path& path, std::uint64_t size) {
  const std::uint32_t numel = 16u << 20;
  const std::size_t count = std::max<std::uint64_t>(1, size / (numel * 4ULL));
  std::vector<float> chunk(numel);
  std::uint32_t state = 54321;
  for (auto& v : chunk) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<std::int32_t>(state)) / 2147483648.0f;
  }
  const auto storage = std::string(reinterpret_cast<const char*>(chunk.data()), chunk.size() * 4);
  const auto storage_crc = static_cast<std::uint32_t>(
    ::crc32_z(0, reinterpret_cast<const Bytef*>(storage.data()), storage.size()));
  struct entry {
    std::string name;
    std::uint32_t crc;
    std::uint32_t size;
    std::uint32_t offset;
  };
  std::vector<entry> entries;
  std::ofstream out(path, std::ios::binary);
  std::uint64_t written = 0;
  const auto add = [&](const std::string& name, const std::string& data) {
    const auto crc = &data == &storage ? storage_crc
                                       : static_cast<std::uint32_t>(::crc32_z(
                                           0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
    std::string header;
    put_le<std::uint32_t>(header, 0x04034b50);
    put_le<std::uint16_t>(header, 20);
    put_le<std::uint16_t>(header, 8); // data descriptor
    put_le<std::uint16_t>(header, 0); // stored
    put_le<std::uint32_t>(header, 0);
    put_le<std::uint32_t>(header, 0);
    put_le<std::uint32_t>(header, 0);
    put_le<std::uint32_t>(header, 0);
    put_le<std::uint16_t>(header, static_cast<std::uint16_t>(name.size()));
    put_le<std::uint16_t>(header, 0);
    header += name;
    std::string descriptor;
    put_le<std::uint32_t>(descriptor, 0x08074b50);
    put_le<std::uint32_t>(descriptor, crc);
    put_le<std::uint32_t>(descriptor, static_cast<std::uint32_t>(data.size()));
    put_le<std::uint32_t>(descriptor, static_cast<std::uint32_t>(data.size()));
    entries.push_back({name, crc, static_cast<std::uint32_t>(data.size()), static_cast<std::uint32_t>(written)});
    for (const std::string_view part : {std::string_view(header), std::string_view(data),
                                        std::string_view(descriptor)}) {
      out.write(part.data(), static_cast<std::streamsize>(part.size()));
      written += part.size();
    }
  };
  add("archive/data.pkl", state_dict_pickle(count, numel));
  add("archive/byteorder", "little");
  for (std::size_t i = 0; i < count; ++i)
    add("archive/data/" + std::to_string(i), storage);
  add("archive/version", "3\n");
  std::string directory;
  for (const auto& e : entries) {
    put_le<std::uint32_t>(directory, 0x02014b50);
    put_le<std::uint16_t>(directory, 20);
    put_le<std::uint16_t>(directory, 20);
    put_le<std::uint16_t>(directory, 8);
    put_le<std::uint16_t>(directory, 0);
    put_le<std::uint32_t>(directory, 0);
    put_le<std::uint32_t>(directory, e.crc);
    put_le<std::uint32_t>(directory, e.size);
    put_le<std::uint32_t>(directory, e.size);
    put_le<std::uint16_t>(directory, static_cast<std::uint16_t>(e.name.size()));
    put_le<std::uint16_t>(directory, 0);
    put_le<std::uint16_t>(directory, 0);
    put_le<std::uint16_t>(directory, 0);
    put_le<std::uint16_t>(directory, 0);
    put_le<std::uint32_t>(directory, 0);
    put_le<std::uint32_t>(directory, e.offset);
    directory += e.name;
  }
  put_le<std::uint32_t>(directory, 0x06054b50);
  put_le<std::uint32_t>(directory, 0);
  put_le<std::uint16_t>(directory, static_cast<std::uint16_t>(entries.size()));
  put_le<std::uint16_t>(directory, static_cast<std::uint16_t>(entries.size()));
  put_le<std::uint32_t>(directory, static_cast<std::uint32_t>(directory.size() - 4 - 4 - 4));
  put_le<std::uint32_t>(directory, static_cast<std::uint32_t>(written));
  put_le<std::uint16_t>(directory, 0);
  out.write(directory.data(), static_cast<std::streamsize>(directory.size()));
}

// Raw deflate (window bits -15, level 6) as Python's zlib.compressobj(6, zlib.DEFLATED, -15)
// writes it.
std::vector<std::uint8_t> raw_deflate(const std::string& text) {
  z_stream s{};
  deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<std::uint8_t> out(deflateBound(&s, text.size()));
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  s.avail_in = static_cast<uInt>(text.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

template <typename F>
double best_of(int runs, F&& f) {
  double best = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto start = clock_type::now();
    f();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

void bench_crc_and_inflate() {
  // A pickle-like text (keys, numbers) of 64 MiB: deflates about 6:1.
  std::string text;
  std::uint32_t state = 777;
  while (text.size() < (64u << 20)) {
    state = state * 1664525u + 1013904223u;
    text += "model.layers." + std::to_string(state % 4096) + ".mlp.weight=" +
            std::to_string(state >> 12) + ";";
  }
  const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  volatile std::uint32_t sink = 0;
  const double crc_s = best_of(5, [&] { sink = sink + crc32(bytes); });
  std::printf("crc32 (64 MiB): %.2f GB/s\n", static_cast<double>(text.size()) / crc_s / 1e9);

  const auto deflated = raw_deflate(text);
  std::string error;
  bool same = true;
  const double inflate_s = best_of(5, [&] {
    const auto out = inflate_raw(deflated, text.size(), error);
    same = same && out && out->size() == text.size() &&
           std::memcmp(out->data(), text.data(), text.size()) == 0;
  });
  std::printf("inflate_raw (%.1f MiB deflated -> 64 MiB): %.3f s, %.0f MB/s of output (%s)\n",
              static_cast<double>(deflated.size()) / (1 << 20), inflate_s,
              static_cast<double>(text.size()) / inflate_s / 1e6, same ? "round trip ok" : "MISMATCH");
  std::vector<std::uint8_t> pickle_head;
  const double prefix_s = best_of(1000, [&] {
    const auto head = inflate_prefix(deflated, 64);
    if (head)
      pickle_head = *head;
  });
  std::printf("inflate_prefix (64 bytes of it): %.2f us\n", prefix_s * 1e6);
}

void bench_torch_zip(const fs::path& path) {
  const auto actual = fs::file_size(path);
  time_scan(path); // warm-up
  bool clean = true;
  const double scan_s = best_of(2, [&] {
    inspect_options options;
    options.level = validation_level::comprehensive;
    const auto report = inspect_file(path, options);
    clean = clean && report.is_valid() && report.tensors.size() == actual / (64ULL << 20);
    for (const auto& i : report.issues)
      if (i.code == "ZIP_CRC_MISMATCH")
        clean = false;
  });
  const double openssl = time_command("openssl dgst -sha256 " + path.string());
  std::printf("torch.save zip %.2f GiB, comprehensive scan (+ CRC-32 of every storage): %.3f s, "
              "%.2f GB/s (%s); openssl dgst -sha256 %.3f s; scan / openssl = %.3f\n",
              static_cast<double>(actual) / (1ULL << 30), scan_s,
              static_cast<double>(actual) / scan_s / 1e9, clean ? "valid, CRCs match" : "UNEXPECTED ISSUES",
              openssl, scan_s / openssl);
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
  fs::remove(big);
  fs::remove(small);

  bench_crc_and_inflate();
  const auto torch_zip = dir / "model.pt";
  write_torch_zip(torch_zip, std::max<std::uint64_t>(256ULL << 20, size / 2));
  bench_torch_zip(torch_zip);
  fs::remove_all(dir);
  return 0;
}
