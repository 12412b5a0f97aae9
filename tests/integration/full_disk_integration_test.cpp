// A data dir on a full disk: writes are refused with a clear error and nothing acknowledged is
// lost; the server keeps answering, and writes work again once there is room. The data dir is
// a 2 MiB tmpfs mounted for the test (CI runs as root, as the README's commands do).
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/mount.h>
#include <unistd.h>

using namespace modeld::test;
namespace json = boost::json;

namespace {

// A small tmpfs, unmounted when the test ends.
struct small_filesystem {
  temp_dir dir;
  explicit small_filesystem(const char* size) {
    REQUIRE(::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, size) == 0);
  }
  ~small_filesystem() { ::umount2(dir.path.c_str(), MNT_DETACH); }
};

// Fills the file system up to its last byte.
void fill(const std::string& path) {
  std::ofstream filler(path, std::ios::binary);
  const std::string block(4096, 'x');
  while (filler.write(block.data(), static_cast<std::streamsize>(block.size())))
    ;
}

json::object put(const std::string& description) {
  return {{"command", "put_model_metadata"},
          {"data", {{"model_id", "vae/demo-vae.safetensors"}, {"metadata", {{"description", description}}}}}};
}

} // namespace

TEST_CASE("a full disk refuses writes clearly, loses nothing, and recovers", "[full-disk]") {
  INFO("this test mounts a tmpfs and needs root, as the README's test command runs");
  REQUIRE(::geteuid() == 0);
  temp_dir models;
  write_demo_models(models.path);
  small_filesystem disk("size=2m");
  const auto data_dir = disk.dir.path + "/data";
  const std::vector<std::string> args{"--model-root", models.path};
  {
    modeld_process server(args, data_dir);
    line_client client(server.port());
    REQUIRE(data_of(client.call(put("before the disk filled"))).at("description") == "before the disk filled");

    fill(disk.dir.path + "/filler");
    auto refused = client.call(put(std::string(16000, 'y')));
    CHECK(error_code_of(refused) == "INTERNAL");
    CHECK(std::string_view{refused.at("error").at("message").as_string()}.find("full") != std::string_view::npos);
    // The refused write is nowhere; reads and everything else keep working.
    auto read = data_of(client.call({{"command", "get_model_metadata"}, {"data", {{"model_id", "vae/demo-vae.safetensors"}}}}));
    CHECK(read.at("description") == "before the disk filled");
    CHECK(client.call({{"command", "ping"}}).at("success") == true);
    CHECK(data_of(client.call({{"command", "post_model_load"}, {"data", {{"model_id", "vae/demo-vae.safetensors"}}}}))
            .at("model_id") == "vae/demo-vae.safetensors");

    std::filesystem::remove(disk.dir.path + "/filler");
    CHECK(data_of(client.call(put("after the disk had room"))).at("description") == "after the disk had room");
    CHECK(server.stop(SIGTERM) == 0);
  }
  modeld_process again(args, data_dir);
  line_client client(again.port());
  auto read = data_of(client.call({{"command", "get_model_metadata"}, {"data", {{"model_id", "vae/demo-vae.safetensors"}}}}));
  CHECK(read.at("description") == "after the disk had room");
}
