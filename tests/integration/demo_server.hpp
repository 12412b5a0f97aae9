// A modeld over a freshly written demo model root, and small model files for tests to drop in.
#pragma once

#include "line_client.hpp"
#include "modeld_process.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::test {

// A model server over a demo root; the root outlives the server.
struct demo_server {
  temp_dir models;
  std::unique_ptr<modeld_process> server;
  std::unique_ptr<line_client> client;

  explicit demo_server(std::vector<std::string> extra = {}) {
    write_demo_models(models.path);
    extra.insert(extra.begin(), {"--model-root", models.path});
    server = std::make_unique<modeld_process>(extra);
    client = std::make_unique<line_client>(server->port());
  }
  boost::json::value call(boost::json::object request) { return client->call(request); }
  boost::json::value call(std::string command, boost::json::object data) {
    return client->call(boost::json::object{{"command", command}, {"data", std::move(data)}});
  }
  std::string root() const { return std::filesystem::canonical(models.path).string(); }
};

inline void write_file(const std::string& path, std::string_view bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// A safetensors file of `header` (JSON text, padded to 8 bytes here) and `data`.
inline std::string safetensors_file(std::string header, std::string_view data) {
  while (header.size() % 8 != 0)
    header.push_back(' ');
  std::string out(8, '\0');
  auto length = static_cast<std::uint64_t>(header.size());
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return out + header + std::string(data);
}

// A minimal valid safetensors file with one F32 tensor of `values` elements.
inline std::string safetensors_bytes(std::size_t values) {
  return safetensors_file(R"({"w":{"dtype":"F32","shape":[)" + std::to_string(values) + R"(],"data_offsets":[0,)" +
                            std::to_string(values * 4) + "]}}",
                          std::string(values * 4, '\0'));
}

} // namespace modeld::test
