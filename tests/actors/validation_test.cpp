// The validation worker: what it remembers of a file that changes while it is read.
#include "actors/validation.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace modeld::actors;
namespace fs = std::filesystem;

namespace {

// A valid safetensors file with one F32 tensor of `values` elements.
void write_safetensors(const fs::path& path, std::size_t values) {
  std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(values) + R"(],"data_offsets":[0,)" +
                       std::to_string(values * 4) + "]}}";
  while (header.size() % 8 != 0)
    header.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  const auto length = static_cast<std::uint64_t>(header.size());
  for (int i = 0; i < 8; ++i)
    out.put(static_cast<char>((length >> (8 * i)) & 0xFF));
  out << header;
  const std::string zeros(1 << 20, '\0');
  for (std::size_t written = 0; written < values * 4; written += zeros.size())
    out.write(zeros.data(), static_cast<std::streamsize>(std::min(zeros.size(), values * 4 - written)));
}

worker_job comprehensive_job(const fs::path& path) {
  auto opened = modeld::formats::open_unconfined(path.string());
  REQUIRE(std::holds_alternative<modeld::formats::unique_fd>(opened));
  worker_job job;
  job.path = path.string();
  job.file = std::make_shared<const modeld::formats::unique_fd>(std::move(std::get<modeld::formats::unique_fd>(opened)));
  job.level = modeld::formats::validation_level::comprehensive;
  job.cancel = std::make_shared<std::atomic<bool>>(false);
  job.progress = std::make_shared<progress_fanout>();
  return job;
}

} // namespace

TEST_CASE("a validation of a file that shrank while it was hashed remembers no checksum", "[validation]") {
  const auto path = fs::temp_directory_path() / ("validation-shrinks-" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(path, 16 << 20); // 64 MiB: many progress reports while it is hashed

  auto steady = run_validation(comprehensive_job(path));
  CHECK(steady.describes_file);
  CHECK(steady.sha256.size() == 64);

  auto job = comprehensive_job(path);
  bool truncated = false;
  job.progress->add(1, std::make_shared<const progress_sink>([&](std::uint64_t done, std::uint64_t total, const std::string&) {
    if (!truncated && done < total) { // the first report of the hash pass: cut the file under it
      truncated = true;
      fs::resize_file(path, 4096);
    }
  }));
  auto changed = run_validation(job);
  REQUIRE(truncated);
  CHECK(changed.result_json.find("FILE_CHANGED") != std::string::npos);
  CHECK_FALSE(changed.describes_file);
  CHECK(changed.sha256.empty());
  CHECK(changed.autov2.empty());
  fs::remove(path);
}
