// Model roots that change under the server: files swapped for links after a scan, links that
// would take over another model's id, damaged files.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

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

TEST_CASE("damaged model files are listed invalid, validate with their issues and do not load",
          "[catalog][hostile]") {
  demo_server s;
  // A valid length prefix, then a header that is no JSON; and a zero-byte checkpoint.
  const std::string header = "{\"w\": {\"dtype\": \"F32\", oops";
  std::string broken(8, '\0');
  broken[0] = static_cast<char>(header.size());
  write_file(s.models.path + "/broken/bad.safetensors", broken + header);
  write_file(s.models.path + "/broken/empty.ckpt", "");
  write_file(s.models.path + "/broken/good.safetensors", safetensors_bytes(16));
  write_file(s.models.path + "/broken/notes.txt", "no model extension and no model content");

  auto scan = data_of(s.call("post_model_scan", {}));
  CHECK(scan.at("added") == 3);
  CHECK_FALSE(has_scan_error(scan, "broken/bad.safetensors", "UNSUPPORTED_FORMAT"));
  CHECK_FALSE(has_scan_error(scan, "broken/empty.ckpt", "UNSUPPORTED_FORMAT"));
  CHECK(has_scan_error(scan, "broken/notes.txt", "UNSUPPORTED_FORMAT"));

  std::map<std::string, json::object> listed;
  const auto page = data_of(s.call("get_models", {{"limit", 1000}}));
  for (auto& m : page.at("models").as_array())
    listed[std::string{m.at("model_id").as_string()}] = m.as_object();
  CHECK(listed.count("broken/notes.txt") == 0);
  REQUIRE(listed.count("broken/good.safetensors") == 1);
  CHECK(listed["broken/good.safetensors"].at("is_valid") == true);
  CHECK(listed["broken/good.safetensors"].at("invalid_reason").is_null());
  for (const std::string id : {"broken/bad.safetensors", "broken/empty.ckpt"}) {
    INFO(id);
    REQUIRE(listed.count(id) == 1);
    CHECK(listed[id].at("is_valid") == false);
    REQUIRE(listed[id].at("invalid_reason").is_string());
    CHECK_FALSE(listed[id].at("invalid_reason").as_string().empty());

    auto model = data_of(s.call("get_model", {{"model_id", id}})).at("model");
    CHECK(model.at("is_valid") == false);
    CHECK(model.at("invalid_reason") == listed[id].at("invalid_reason"));

    auto validated = s.call("post_model_validate", {{"model_id", id}});
    REQUIRE(validated.at("success") == true);
    auto& result = validated.at("data");
    CHECK(result.at("is_valid") == false);
    bool has_error = false;
    for (auto& issue : result.at("issues").as_array())
      has_error = has_error || issue.at("severity") == "error";
    CHECK(has_error);

    CHECK(error_code_of(s.call("post_model_load", {{"model_id", id}})) == "UNSUPPORTED_FORMAT");
  }
  CHECK(listed["broken/bad.safetensors"].at("format") == "safetensors");
  CHECK(listed["broken/empty.ckpt"].at("format") == "unknown");
  CHECK(listed["broken/empty.ckpt"].at("invalid_reason").as_string().starts_with("FILE_EMPTY"));
  auto valid_demo = data_of(s.call("get_model", {{"model_id", "checkpoints/demo-sd15.safetensors"}})).at("model");
  CHECK(valid_demo.at("is_valid") == true);
  CHECK(valid_demo.at("invalid_reason").is_null());

  // A file whose damage only a deeper validation finds (NaN weights): the catalog takes the
  // validity of that validation.
  std::string nan_model = safetensors_bytes(4);
  nan_model.replace(nan_model.size() - 4, 4, std::string("\x00\x00\xc0\x7f", 4));
  write_file(s.models.path + "/broken/nan.safetensors", nan_model);
  CHECK(data_of(s.call("post_model_scan", {})).at("added") == 1);
  CHECK(data_of(s.call("get_model", {{"model_id", "broken/nan.safetensors"}})).at("model").at("is_valid") == true);
  auto deep = data_of(s.call("post_model_validate", {{"model_id", "broken/nan.safetensors"},
                                                     {"validation_level", "comprehensive"}}));
  REQUIRE(deep.at("is_valid") == false);
  bool updated = false;
  for (int attempt = 0; attempt < 100 && !updated; ++attempt) { // remembered after the answer
    auto model = data_of(s.call("get_model", {{"model_id", "broken/nan.safetensors"}})).at("model");
    updated = model.at("is_valid") == false && model.at("invalid_reason").is_string() &&
              model.at("invalid_reason").as_string().starts_with("TENSOR_NAN_VALUES");
    if (!updated)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(updated);

  // Repaired and rescanned: valid again, under the same id.
  write_file(s.models.path + "/broken/bad.safetensors", safetensors_bytes(8));
  CHECK(data_of(s.call("post_model_scan", {})).at("updated") == 1);
  auto repaired = data_of(s.call("get_model", {{"model_id", "broken/bad.safetensors"}})).at("model");
  CHECK(repaired.at("is_valid") == true);
  CHECK(repaired.at("invalid_reason").is_null());
}
