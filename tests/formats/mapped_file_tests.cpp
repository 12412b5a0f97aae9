// A file truncated while mapped: reads past its new end see zeros instead of SIGBUS, and the
// inspection that saw them says so.
#include <catch2/catch.hpp>

#include "bytes.hpp"
#include "formats/inspect.hpp"
#include "formats/mapped_file.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace modeld::formats;
using namespace modeld::formats::test;
namespace fs = std::filesystem;

namespace {

struct temp_file {
  fs::path path = fs::temp_directory_path() / ("modeld-mapped-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  ~temp_file() { ::unlink(path.c_str()); }
  void write(const bytes& content) const {
    std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
  }
};

} // namespace

TEST_CASE("a mapping whose file shrank reads zeros past the new end, and says so", "[mapped_file]") {
  temp_file file, other;
  file.write(bytes(3 * 4096 + 10, 0xAB));
  other.write(bytes(3 * 4096, 0xCD));
  std::string error;
  auto mapping = mapped_file::open(file.path, error);
  auto untouched = mapped_file::open(other.path, error);
  REQUIRE(mapping.is_open());
  REQUIRE(untouched.is_open());
  CHECK_FALSE(mapping.truncated());
  const auto* data = mapping.bytes().data();
  CHECK(data[5000] == 0xAB);

  fs::resize_file(file.path, 100);
  CHECK(data[50] == 0xAB);                  // still in the file
  CHECK(data[3 * 4096 + 5] == 0);           // would have been SIGBUS
  CHECK(data[4096] == 0);                   // every page from the first fault on reads zeros
  CHECK(mapping.truncated());
  CHECK_FALSE(untouched.truncated());
  CHECK(untouched.bytes()[3 * 4096 - 1] == 0xCD);

  // Moves keep the guard; a new mapping of the shrunk file is whole and untruncated.
  auto moved = std::move(mapping);
  CHECK(moved.truncated());
  auto again = mapped_file::open(file.path, error);
  REQUIRE(again.size() == 100);
  CHECK_FALSE(again.truncated());
}

TEST_CASE("an inspection of a file that shrinks under it is FILE_CHANGED, not a crash", "[mapped_file][inspect]") {
  temp_file file;
  const std::size_t data_size = 64 << 20;
  const std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(data_size / 4) +
                             R"(],"data_offsets":[0,)" + std::to_string(data_size) + "]}}";
  file.write(safetensors_file(header, data_size, 0x3F));
  REQUIRE(inspect_file(file.path, {validation_level::comprehensive, {}, nullptr}).is_valid());

  bool shrunk = false;
  inspect_options options{validation_level::comprehensive, {}, nullptr};
  options.progress = [&](std::uint64_t, std::uint64_t, std::string_view) {
    if (!shrunk) // the first progress report comes with most of the file still unread
      fs::resize_file(file.path, 4096);
    shrunk = true;
  };
  const auto report = inspect_file(file.path, options);
  REQUIRE(shrunk);
  CHECK(has_code(report.issues, "FILE_CHANGED"));
  CHECK_FALSE(report.is_valid());
}
