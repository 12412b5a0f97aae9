#include "formats/confined_open.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace modeld::formats;
namespace fs = std::filesystem;

namespace {

struct scratch {
  fs::path base;
  std::string root;    // a model root
  std::string outside; // a file next to it, outside
  scratch() {
    std::string pattern = (fs::temp_directory_path() / "confined-XXXXXX").string();
    base = fs::canonical(::mkdtemp(pattern.data()));
    fs::create_directories(base / "root" / "dir");
    root = (base / "root").string();
    outside = (base / "secret.bin").string();
    std::ofstream(outside) << "outside";
    std::ofstream(root + "/dir/model.bin") << "inside";
  }
  ~scratch() { fs::remove_all(base); }
};

std::string code_of(const opened_model& opened) {
  if (std::holds_alternative<unique_fd>(opened))
    return "OPENED";
  return std::get<open_refusal>(opened).code;
}

std::string content_of(opened_model opened) {
  REQUIRE(std::holds_alternative<unique_fd>(opened));
  char buffer[64] = {};
  const auto got = ::read(std::get<unique_fd>(opened).get(), buffer, sizeof buffer);
  return std::string(buffer, got > 0 ? static_cast<std::size_t>(got) : 0);
}

} // namespace

TEST_CASE("open_beneath opens files below the root and follows links only while they stay there",
          "[confined_open]") {
  scratch s;
  CHECK(content_of(open_beneath(s.root, s.root + "/dir/model.bin")) == "inside");
  fs::create_symlink("dir/model.bin", s.root + "/inner_link.bin");
  CHECK(content_of(open_beneath(s.root, s.root + "/inner_link.bin")) == "inside");

  fs::create_symlink(s.outside, s.root + "/absolute.bin");
  fs::create_symlink("../secret.bin", s.root + "/relative.bin");
  fs::create_symlink("../../secret.bin", s.root + "/dir/deeper.bin");
  fs::create_symlink("/etc/passwd", s.root + "/passwd.bin");
  fs::create_directory_symlink(s.base, s.root + "/up");
  for (const char* name : {"/absolute.bin", "/relative.bin", "/dir/deeper.bin", "/passwd.bin", "/up/secret.bin"}) {
    INFO(name);
    CHECK(code_of(open_beneath(s.root, s.root + name)) == "PATH_NOT_ALLOWED");
  }
}

TEST_CASE("open_beneath refuses what is not a file below the root", "[confined_open]") {
  scratch s;
  CHECK(code_of(open_beneath(s.root, s.outside)) == "PATH_NOT_ALLOWED");
  CHECK(code_of(open_beneath(s.root, s.root + "/../secret.bin")) == "PATH_NOT_ALLOWED");
  CHECK(code_of(open_beneath(s.root, s.root)) == "PATH_NOT_ALLOWED");
  CHECK(code_of(open_beneath(s.root, s.root + "/dir")) == "PATH_NOT_ALLOWED");
  CHECK(code_of(open_beneath(s.root, s.root + "/missing.bin")) == "MODEL_NOT_FOUND");
  REQUIRE(::mkfifo((s.root + "/fifo.bin").c_str(), 0600) == 0);
  CHECK(code_of(open_beneath(s.root, s.root + "/fifo.bin")) == "PATH_NOT_ALLOWED"); // and does not block
}

TEST_CASE("the walk without openat2 refuses every link on the way", "[confined_open]") {
  scratch s;
  CHECK(content_of(open_by_walk(s.root, s.root + "/dir/model.bin")) == "inside");
  fs::create_symlink("dir/model.bin", s.root + "/inner_link.bin");
  fs::create_directory_symlink("dir", s.root + "/dir_link");
  fs::create_symlink("../secret.bin", s.root + "/relative.bin");
  for (const char* name : {"/inner_link.bin", "/dir_link/model.bin", "/relative.bin"}) {
    INFO(name);
    CHECK(code_of(open_by_walk(s.root, s.root + name)) == "PATH_NOT_ALLOWED");
  }
  CHECK(code_of(open_by_walk(s.root, s.root + "/missing.bin")) == "MODEL_NOT_FOUND");
  CHECK(code_of(open_by_walk(s.root, s.outside)) == "PATH_NOT_ALLOWED");
}

TEST_CASE("a duplicated descriptor reads the same file after the original is closed", "[confined_open]") {
  scratch s;
  auto opened = open_beneath(s.root, s.root + "/dir/model.bin");
  REQUIRE(std::holds_alternative<unique_fd>(opened));
  auto copy = std::get<unique_fd>(opened).duplicate();
  opened = open_refusal{};
  REQUIRE(copy);
  CHECK(content_of(std::move(copy)) == "inside");
}
