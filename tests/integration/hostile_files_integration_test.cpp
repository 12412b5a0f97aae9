// Model roots that change under the server: files swapped for links after a scan, links that
// would take over another model's id, damaged files.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

using namespace modeld::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

bool has_scan_error(const json::value& scan, std::string_view path_suffix, std::string_view code) {
  for (auto& e : scan.at("errors").as_array())
    if (std::string_view{e.at("path").as_string()}.ends_with(path_suffix) && std::string_view{e.at("code").as_string()} == code)
      return true;
  return false;
}

} // namespace

TEST_CASE("a model file swapped for a link after the scan is never read outside the roots", "[security]") {
  temp_dir outside;
  const auto outside_model = fs::canonical(outside.path).string() + "/outside.safetensors";
  write_file(outside_model, safetensors_bytes(64));
  demo_server s;
  const auto swapped = s.root() + "/swap/p.safetensors";
  write_file(swapped, safetensors_bytes(64));
  REQUIRE(data_of(s.call("post_model_scan", {})).at("added") == 1);

  const std::string id = "swap/p.safetensors";
  const auto relative_escape = fs::relative(outside_model, fs::path(swapped).parent_path()).string();
  for (const std::string& target : {std::string{"/etc/passwd"}, outside_model, relative_escape}) {
    INFO("link to " << target);
    fs::remove(swapped);
    fs::create_symlink(target, swapped);
    for (const char* level : {"basic", "comprehensive"})
      CHECK(error_code_of(s.call("post_model_validate", {{"model_id", id}, {"validation_level", level}})) ==
            "PATH_NOT_ALLOWED");
    CHECK(error_code_of(s.call("post_model_load", {{"model_id", id}})) == "PATH_NOT_ALLOWED");
    CHECK(error_code_of(s.call("post_model_cache", {{"model_id", id}})) == "PATH_NOT_ALLOWED");
    CHECK(error_code_of(s.call("post_model_benchmark", {{"model_id", id}, {"benchmark_type", "load"}})) ==
          "PATH_NOT_ALLOWED");
  }
  // Nothing of the outside file reached a device or the cache.
  auto status = data_of(s.call("get_model_status", {}));
  CHECK(status.at("loaded_models").as_array().empty());
  CHECK(status.at("cache").at("entries").as_array().empty());
}

TEST_CASE("a link inside a root does not take over the id of the file it points to", "[security][catalog]") {
  demo_server s;
  fs::create_directories(s.models.path + "/evil");
  // "evil/" sorts before "vae/": a walk that took links as it met them gave the id to the link.
  fs::create_symlink("../vae/demo-vae.safetensors", s.models.path + "/evil/x.safetensors");
  auto scan = data_of(s.call("post_model_scan", {}));
  CHECK(scan.at("removed") == 0);
  CHECK(has_scan_error(scan, "evil/x.safetensors", "DUPLICATE_FILE"));
  auto model = data_of(s.call("get_model", {{"model_id", "vae/demo-vae.safetensors"}})).at("model");
  CHECK(model.at("architecture") == "vae");
  CHECK(error_code_of(s.call("get_model", {{"model_id", "evil/x.safetensors"}})) == "MODEL_NOT_FOUND");
  CHECK(data_of(s.call("get_model_metadata", {{"model_id", "vae/demo-vae.safetensors"}})).at("name") == "demo-vae");

  // A rescan keeps it so, and the loaded file stays listed under its own id.
  auto loaded = data_of(s.call("post_model_load", {{"model_id", "vae/demo-vae.safetensors"}}));
  CHECK(loaded.at("model_id") == "vae/demo-vae.safetensors");
  auto again = data_of(s.call("post_model_scan", {}));
  CHECK(again.at("removed") == 0);
  CHECK(has_scan_error(again, "evil/x.safetensors", "DUPLICATE_FILE"));
  CHECK(data_of(s.call("get_model", {{"model_id", "vae/demo-vae.safetensors"}})).at("model").at("loaded") == true);
}
