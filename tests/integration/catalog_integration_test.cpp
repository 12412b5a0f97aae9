// Catalog, metadata and validation commands against real files over TCP.
#include "demo_server.hpp"
#include "json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace modeld::test;
namespace json = boost::json;
namespace fs = std::filesystem;

TEST_CASE("get_models lists the demo root with real formats and architectures", "[catalog]") {
  demo_server s;
  auto data = data_of(s.call("get_models", {}));
  auto& models = data.at("models").as_array();
  CHECK(data.at("total") == models.size());
  REQUIRE(models.size() >= 5);
  std::map<std::string, json::object> by_id;
  for (auto& m : models)
    by_id[std::string{m.at("model_id").as_string()}] = m.as_object();
  REQUIRE(by_id.count("checkpoints/demo-sd15.safetensors"));
  auto& sd = by_id["checkpoints/demo-sd15.safetensors"];
  CHECK(sd.at("format") == "safetensors");
  CHECK(sd.at("architecture") == "sd1");
  CHECK(sd.at("type") == "checkpoint");
  CHECK(sd.at("precision") == "fp16");
  CHECK(sd.at("name") == "demo-sd15");
  CHECK(sd.at("parameter_count").to_number<std::int64_t>() > 0);
  CHECK(by_id["loras/demo-style-lora.safetensors"].at("architecture") == "lora");
  CHECK(by_id["llm/tiny-llama.gguf"].at("format") == "gguf");
  CHECK(by_id["onnx/tiny-matmul.onnx"].at("format") == "onnx");

  auto gguf = data_of(s.call("get_models", {{"format", "gguf"}}));
  REQUIRE(gguf.at("total") == 1);
  CHECK(gguf.at("models").at(0).at("model_id") == "llm/tiny-llama.gguf");
  auto page = data_of(s.call("get_models", {{"offset", 1}, {"limit", 2}}));
  CHECK(page.at("models").as_array().size() == 2);
  CHECK(page.at("total") == data.at("total"));
  CHECK(page.at("models").at(0).at("model_id") == models[1].at("model_id"));
  CHECK(data_of(s.call("get_models", {{"loaded", true}})).at("total") == 0);
  CHECK(error_code_of(s.call("get_models", {{"limit", 5000}})) == "INVALID_REQUEST");
  CHECK(error_code_of(s.call("get_models", {{"type", 3}})) == "INVALID_REQUEST");
}

TEST_CASE("get_model, components and benchmark results of one model", "[catalog]") {
  demo_server s;
  auto model = data_of(s.call("get_model", {{"model_id", "checkpoints/demo-sd15.safetensors"}})).at("model");
  CHECK(model.at("path") == (s.root() + "/checkpoints/demo-sd15.safetensors").c_str());
  CHECK(model.at("size_bytes") == fs::file_size(s.root() + "/checkpoints/demo-sd15.safetensors"));
  auto components = data_of(s.call("get_model_components", {{"model_id", "checkpoints/demo-sd15.safetensors"}}));
  std::set<std::string> names;
  for (auto& c : components.at("components").as_array()) {
    names.insert(std::string{c.at("name").as_string()});
    CHECK(c.at("tensor_count").to_number<std::int64_t>() > 0);
  }
  CHECK(names.count("unet"));
  CHECK(names.count("vae"));
  auto results = data_of(s.call("get_model_benchmark_results", {{"model_id", "llm/tiny-llama.gguf"}}));
  CHECK(results.at("results").as_array().empty());
  CHECK(error_code_of(s.call("get_model", {{"model_id", "nope.safetensors"}})) == "MODEL_NOT_FOUND");
  CHECK(error_code_of(s.call("get_model", {})) == "INVALID_REQUEST");
}

TEST_CASE("post_model_scan finds added, changed, removed and unsupported files", "[catalog]") {
  demo_server s;
  auto first = data_of(s.call("post_model_scan", {}));
  CHECK(first.at("added") == 0);
  CHECK(first.at("unchanged").to_number<std::int64_t>() >= 5);

  write_file(s.models.path + "/extra/new.safetensors", safetensors_bytes(16));
  write_file(s.models.path + "/notes.txt", "not a model");
  auto added = data_of(s.call("post_model_scan", {}));
  CHECK(added.at("added") == 1);
  bool reported = false;
  for (auto& e : added.at("errors").as_array())
    reported = reported || (e.at("code") == "UNSUPPORTED_FORMAT" &&
                            std::string_view(e.at("path").as_string()).ends_with("notes.txt"));
  CHECK(reported);
  CHECK(data_of(s.call("get_model", {{"model_id", "extra/new.safetensors"}})).at("model").at("size_bytes") == safetensors_bytes(16).size());

  write_file(s.models.path + "/extra/new.safetensors", safetensors_bytes(32));
  auto updated = data_of(s.call("post_model_scan", {{"root", s.root()}}));
  CHECK(updated.at("updated") == 1);

  fs::remove(s.models.path + "/extra/new.safetensors");
  CHECK(data_of(s.call("post_model_scan", {})).at("removed") == 1);
  CHECK(error_code_of(s.call("get_model", {{"model_id", "extra/new.safetensors"}})) == "MODEL_NOT_FOUND");
  CHECK(error_code_of(s.call("post_model_scan", {{"root", "/etc"}})) == "INVALID_REQUEST");
}

TEST_CASE("post_model_scan with stream: true reports inspecting the new files", "[catalog][stream]") {
  demo_server s;
  write_file(s.models.path + "/extra/a.safetensors", safetensors_bytes(16));
  write_file(s.models.path + "/extra/b.safetensors", safetensors_bytes(32));
  const auto total = safetensors_bytes(16).size() + safetensors_bytes(32).size();
  s.client->send({{"request_id", "scan"}, {"command", "post_model_scan"}, {"stream", true}, {"data", json::object{}}});
  std::int64_t last_done = -1;
  while (true) {
    auto line = s.client->read_json(std::chrono::seconds(30));
    REQUIRE(line.at("request_id") == "scan");
    if (!line.as_object().contains("event")) {
      CHECK(data_of(line).at("added") == 2);
      break;
    }
    CHECK(line.at("stage") == "inspecting");
    CHECK(line.at("total_bytes") == total);
    last_done = line.at("done_bytes").to_number<std::int64_t>();
  }
  CHECK(last_done == static_cast<std::int64_t>(total)); // the last event is the whole
}

TEST_CASE("post_model_validate by id and path, with levels, cache and errors", "[catalog]") {
  demo_server s;
  auto standard = data_of(s.call("post_model_validate", {{"model_id", "checkpoints/demo-sd15.safetensors"}}));
  CHECK(standard.at("is_valid") == true);
  CHECK(standard.at("validation_details").at("format") == "safetensors");
  CHECK(standard.at("validation_details").at("level") == "standard");
  CHECK(standard.at("validation_details").at("file").at("exists") == true);
  CHECK(standard.at("from_cache") == false);
  CHECK(standard.at("issues").is_array());

  auto deep = data_of(s.call("post_model_validate", {{"model_id", "checkpoints/demo-sd15.safetensors"},
                                                     {"validation_level", "comprehensive"}}));
  auto sha = std::string{deep.at("validation_details").at("checksums").at("sha256").as_string()};
  CHECK(sha.size() == 64);
  CHECK(deep.at("validation_details").at("numerics").at("nan_count") == 0);
  auto again = data_of(s.call("post_model_validate", {{"model_id", "checkpoints/demo-sd15.safetensors"},
                                                      {"validation_level", "comprehensive"}}));
  CHECK(again.at("from_cache") == true);
  CHECK(again.at("validation_details").at("checksums").at("sha256") == sha.c_str());
  auto model = data_of(s.call("get_model", {{"model_id", "checkpoints/demo-sd15.safetensors"}})).at("model");
  CHECK(model.at("checksum") == sha.c_str());

  auto by_path = data_of(s.call("post_model_validate", {{"model_path", s.root() + "/llm/tiny-llama.gguf"},
                                                        {"validation_level", "basic"}}));
  CHECK(by_path.at("model_id") == "llm/tiny-llama.gguf");
  CHECK(by_path.at("validation_details").at("format") == "gguf");
  auto relative = data_of(s.call("post_model_validate", {{"model_path", "onnx/tiny-matmul.onnx"}}));
  CHECK(relative.at("validation_details").at("format") == "onnx");

  CHECK(error_code_of(s.call("post_model_validate", {{"model_path", "/etc/passwd"}})) == "PATH_NOT_ALLOWED");
  CHECK(error_code_of(s.call("post_model_validate", {{"model_path", "../../etc/passwd"}})) == "PATH_NOT_ALLOWED");
  fs::create_symlink("/etc/hostname", s.models.path + "/escape.safetensors");
  CHECK(error_code_of(s.call("post_model_validate", {{"model_path", "escape.safetensors"}})) == "PATH_NOT_ALLOWED");
  CHECK(error_code_of(s.call("post_model_validate", {{"model_path", "missing.gguf"}})) == "MODEL_NOT_FOUND");
  CHECK(error_code_of(s.call("post_model_validate", {{"model_id", "missing.gguf"}})) == "MODEL_NOT_FOUND");
  CHECK(error_code_of(s.call("post_model_validate", {{"model_id", "llm/tiny-llama.gguf"},
                                                     {"validation_level", "paranoid"}})) == "INVALID_REQUEST");
  CHECK(error_code_of(s.call("post_model_validate", {})) == "INVALID_REQUEST");
}

TEST_CASE("a damaged file validates with precise issues", "[catalog]") {
  demo_server s;
  auto bytes = safetensors_bytes(16);
  bytes.resize(bytes.size() - 7); // truncated buffer
  write_file(s.models.path + "/broken.safetensors", bytes);
  auto result = data_of(s.call("post_model_validate", {{"model_path", "broken.safetensors"}}));
  CHECK(result.at("is_valid") == false);
  bool has_error = false;
  for (auto& issue : result.at("issues").as_array())
    has_error = has_error || issue.at("severity") == "error";
  CHECK(has_error);
}

TEST_CASE("stream: true sends progress events before the answer", "[catalog]") {
  demo_server s;
  write_file(s.models.path + "/big.safetensors", safetensors_bytes(48 << 20)); // 192 MiB
  s.client->send({{"request_id", "v"}, {"command", "post_model_validate"}, {"stream", true},
                  {"data", {{"model_path", "big.safetensors"}, {"validation_level", "comprehensive"}}}});
  int events = 0;
  while (true) {
    auto line = s.client->read_json(std::chrono::seconds(60));
    CHECK(line.at("request_id") == "v");
    if (line.as_object().contains("event")) {
      CHECK(line.at("event") == "progress");
      CHECK(line.at("total_bytes").to_number<std::int64_t>() > 0);
      ++events;
      continue;
    }
    CHECK(data_of(line).at("is_valid") == true);
    break;
  }
  CHECK(events >= 1);
}

TEST_CASE("metadata: defaults, partial updates, revisions, conflicts, limits", "[catalog]") {
  demo_server s;
  const std::string id = "loras/demo-style-lora.safetensors";
  auto initial = data_of(s.call("get_model_metadata", {{"model_id", id}}));
  CHECK(initial.at("revision") == 0);
  CHECK(initial.at("name") == "demo-style-lora");
  CHECK(initial.at("embedded").at("ss_network_dim") == "4");
  CHECK(initial.at("description").is_null());

  auto first = s.call(json::object{
    {"command", "put_model_metadata"},
    {"data",
     {{"model_id", id},
      {"metadata", {{"Name", "Style LoRA"}, {"tags", {"  Anime ", "anime", "Line  Art"}}, {"custom", {{"SeedValue", 7}}}}}}}});
  auto written = data_of(first);
  CHECK(written.at("revision") == 1);
  CHECK(written.at("name") == "Style LoRA");
  CHECK(written.at("tags") == json::array{"Anime", "Line Art"});
  CHECK(written.at("custom").at("SeedValue") == 7);

  auto partial = data_of(s.call("put_model_metadata", {{"model_id", id}, {"metadata", {{"author", "me"}}}, {"expected_revision", 1}}));
  CHECK(partial.at("revision") == 2);
  CHECK(partial.at("name") == "Style LoRA");
  CHECK(partial.at("author") == "me");

  auto stale = s.call("put_model_metadata", {{"model_id", id}, {"metadata", {{"author", "you"}}}, {"expected_revision", 1}});
  CHECK(error_code_of(stale) == "CONFLICT");
  CHECK(stale.at("error").at("details").at("current_revision") == 2);
  CHECK(data_of(s.call("get_model_metadata", {{"model_id", id}})).at("author") == "me");

  auto tagged = data_of(s.call("get_models", {{"tag", "Anime"}}));
  REQUIRE(tagged.at("total") == 1);
  CHECK(tagged.at("models").at(0).at("model_id") == id.c_str());

  auto too_long = s.call("put_model_metadata", {{"model_id", id}, {"metadata", {{"name", std::string(300, 'n')}}}});
  CHECK(error_code_of(too_long) == "INVALID_REQUEST");
  CHECK(too_long.at("error").at("details").at("field") == "name");
  CHECK(error_code_of(s.call("put_model_metadata", {{"model_id", id}, {"metadata", {{"tags", "x"}}}})) == "INVALID_REQUEST");
  CHECK(error_code_of(s.call("put_model_metadata", {{"model_id", id}, {"metadata", 5}})) == "INVALID_REQUEST");
  CHECK(error_code_of(s.call("put_model_metadata", {{"model_id", "nope"}, {"metadata", {{"name", "x"}}}})) == "MODEL_NOT_FOUND");
}

TEST_CASE("metadata survives a restart on the same data dir", "[catalog]") {
  temp_dir models, data;
  write_demo_models(models.path);
  const std::string id = "vae/demo-vae.safetensors";
  {
    modeld_process server({"--model-root", models.path}, data.path);
    line_client client(server.port());
    auto put = client.call({{"command", "put_model_metadata"},
                            {"data", {{"model_id", id}, {"metadata", {{"description", "kept"}}}}}});
    REQUIRE(put.at("success") == true);
    CHECK(server.stop(SIGTERM) == 0);
  }
  modeld_process server({"--model-root", models.path}, data.path);
  line_client client(server.port());
  auto metadata = data_of(client.call({{"command", "get_model_metadata"}, {"data", {{"model_id", id}}}}));
  CHECK(metadata.at("description") == "kept");
  CHECK(metadata.at("revision") == 1);
}

TEST_CASE("a validation past its timeout_ms answers TIMEOUT; a cancelled one CANCELLED", "[catalog]") {
  demo_server s;
  write_file(s.models.path + "/big.safetensors", safetensors_bytes(64 << 20)); // 256 MiB
  auto timed_out = s.call(json::object{{"request_id", "t"},
                                       {"command", "post_model_validate"},
                                       {"timeout_ms", 5},
                                       {"data", {{"model_path", "big.safetensors"}, {"validation_level", "comprehensive"}}}});
  CHECK(error_code_of(timed_out) == "TIMEOUT");

  s.client->send({{"request_id", "long"}, {"command", "post_model_validate"}, {"stream", true},
                  {"data", {{"model_path", "big.safetensors"}, {"validation_level", "comprehensive"}}}});
  s.client->send({{"request_id", "c"}, {"command", "cancel"}, {"data", {{"target_request_id", "long"}}}});
  bool cancelled = false, answered_cancel = false;
  while (!(cancelled && answered_cancel)) {
    auto line = s.client->read_json(std::chrono::seconds(30));
    if (line.as_object().contains("event"))
      continue;
    if (line.at("request_id") == "c")
      answered_cancel = line.at("data").at("cancelled") == true;
    if (line.at("request_id") == "long") {
      CHECK(error_code_of(line) == "CANCELLED");
      cancelled = true;
    }
  }
  // The server stays responsive and the file still validates afterwards.
  auto after = data_of(s.call("post_model_validate", {{"model_path", "big.safetensors"}, {"validation_level", "basic"}}));
  CHECK(after.at("is_valid") == true);
}

TEST_CASE("get_models filters take their values in any case, as .NET enums send them", "[catalog][enums]") {
  demo_server s;
  auto total = [&](json::object filter) { return data_of(s.call("get_models", filter)).at("total").to_number<int>(); };
  const int safetensors = total({{"format", "safetensors"}});
  REQUIRE(safetensors >= 3);
  CHECK(total({{"format", "SafeTensors"}}) == safetensors);
  CHECK(total({{"format", "SAFETENSORS"}}) == safetensors);
  CHECK(total({{"format", "PytorchZip"}}) == total({{"format", "pytorch_zip"}}));
  CHECK(total({{"format", "pytorch_zip"}}) >= 1);
  CHECK(total({{"type", "Checkpoint"}}) == total({{"type", "checkpoint"}}));
  CHECK(total({{"type", "checkpoint"}}) >= 1);
  CHECK(total({{"architecture", "SD1"}}) == total({{"architecture", "sd1"}}));
  CHECK(total({{"architecture", "sd1"}}) >= 1);
  CHECK(total({{"architecture", "Lora"}, {"type", "LORA"}, {"format", "Safetensors"}}) == 1);
  CHECK(total({{"architecture", "SDXL"}}) == 0); // a known value no demo model has
  CHECK(total({{"format", "Parquet"}}) == 0);    // an unknown value matches nothing, as before
}

TEST_CASE("validation_level takes its values in any case", "[catalog][enums]") {
  demo_server s;
  const std::string id = "vae/demo-vae.safetensors";
  auto deep = data_of(s.call("post_model_validate", {{"model_id", id}, {"validation_level", "Comprehensive"}}));
  CHECK(deep.at("validation_details").at("level") == "comprehensive");
  CHECK(deep.at("validation_details").as_object().contains("checksums"));
  auto basic = data_of(s.call("post_model_validate", {{"model_id", id}, {"ValidationLevel", "BASIC"}}));
  CHECK(basic.at("validation_details").at("level") == "basic");
  auto bad = s.call("post_model_validate", {{"model_id", id}, {"validation_level", "Paranoid"}});
  CHECK(error_code_of(bad) == "INVALID_REQUEST");
  CHECK(bad.at("error").at("details").at("field") == "validation_level");
}

TEST_CASE("tags keep their case, collapse duplicates ignoring case, and match in any case", "[catalog][tags]") {
  demo_server s;
  const std::string id = "loras/demo-style-lora.safetensors";
  auto written = data_of(s.call("put_model_metadata",
                                {{"model_id", id},
                                 {"metadata", {{"tags", {"DeviceOperations", "deviceoperations", "Ελληνικά", "ΕΛΛΗΝΙΚΆ",
                                                         "Ёлка", "ÉTÉ"}}}}}));
  CHECK(written.at("tags") == json::array{"DeviceOperations", "Ελληνικά", "Ёлка", "ÉTÉ"});
  CHECK(data_of(s.call("get_model", {{"model_id", id}})).at("model").at("tags") == written.at("tags"));
  for (auto tag : {"DeviceOperations", "deviceoperations", "DEVICEOPERATIONS", "ελληνικά", "ЁЛКА", "été"}) {
    INFO(tag);
    auto found = data_of(s.call("get_models", {{"tag", tag}}));
    REQUIRE(found.at("total") == 1);
    CHECK(found.at("models").at(0).at("model_id") == id.c_str());
  }
  CHECK(data_of(s.call("get_models", {{"tag", "device operations"}})).at("total") == 0);
}

TEST_CASE("validation_details.structure keeps numbers and booleans", "[catalog]") {
  demo_server s;
  auto structure_of = [&](const std::string& id) {
    auto result = data_of(s.call("post_model_validate", {{"model_id", id}}));
    INFO(json::serialize(result));
    return result.at("validation_details").at("structure");
  };
  auto safetensors = structure_of("checkpoints/demo-sd15.safetensors");
  CHECK(safetensors.at("header_length").is_number());
  CHECK(safetensors.at("tensor_count").is_number());
  auto gguf = structure_of("llm/tiny-llama.gguf");
  CHECK(gguf.at("gguf_version").is_number());
  CHECK(gguf.at("alignment").is_number());
  auto onnx = structure_of("onnx/tiny-matmul.onnx");
  CHECK(onnx.at("ir_version") == 8);
  CHECK(onnx.at("producer_version") == "0.1"); // a version string stays a string
  auto checkpoint = structure_of("checkpoints/tiny-sd-unet.ckpt");
  CHECK(checkpoint.at("legacy") == false);
  // The answer from the validation cache has the same types.
  auto cached = data_of(s.call("post_model_validate", {{"model_id", "onnx/tiny-matmul.onnx"}}));
  CHECK(cached.at("from_cache") == true);
  CHECK(cached.at("validation_details").at("structure").at("ir_version") == 8);
}
