// How the RAM cache lays out a file it keeps in blocks: each identified component's tensors
// packed in the order of their names inside the component (whatever the file's order), and
// the rest of the file, header included, in one block of its own.
#include "actors/cache_blocks.hpp"

#include "formats/inspect.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace modeld;
using namespace modeld::actors;

namespace {

struct stored {
  std::string name;
  std::uint64_t bytes;
};

// A safetensors file of F32 tensors in this order, and where each one's bytes begin.
struct written {
  std::vector<std::uint8_t> file;
  std::uint64_t data_start = 0;
};

written safetensors_of(const std::vector<stored>& tensors) {
  std::string header = "{";
  std::uint64_t at = 0;
  for (const auto& t : tensors) {
    if (header.size() > 1)
      header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(t.bytes / 4) +
              "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + t.bytes) + "]}";
    at += t.bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  written out;
  std::uint64_t length = header.size();
  out.file.resize(8);
  std::memcpy(out.file.data(), &length, 8);
  out.file.insert(out.file.end(), header.begin(), header.end());
  out.data_start = out.file.size();
  out.file.resize(out.file.size() + at, 0x5a);
  return out;
}

formats::model_report report_of(const written& w) {
  auto report = formats::inspect_bytes({w.file.data(), w.file.size()}, "ft.safetensors");
  REQUIRE(report.is_valid());
  return report;
}

const std::vector<stored> checkpoint{{"cond_stage_model.transformer.embeddings.weight", 64},
                                     {"first_stage_model.encoder.conv_in.weight", 32},
                                     {"first_stage_model.decoder.conv_in.weight", 16},
                                     {"model.diffusion_model.input_blocks.0.0.weight", 1024}};

} // namespace

TEST_CASE("a component's block packs its tensors by their names inside it; the own block takes the rest",
          "[cache][blocks]") {
  const auto w = safetensors_of(checkpoint);
  const auto report = report_of(w);
  const auto start = w.data_start;
  auto plan = plan_blocks(report, {{"vae", "v1"}});
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].identity == "v1");
  CHECK(plan[0].component == "vae");
  // decoder.* sorts before encoder.*: the decoder's 16 bytes first, then the encoder's 32.
  CHECK(plan[0].ranges == std::vector<gpu::file_range>{{start + 96, 16}, {start + 64, 32}});
  CHECK(plan[1].identity.empty());
  // The header, the text encoder, then the unet.
  CHECK(plan[1].ranges == std::vector<gpu::file_range>{{0, start + 64}, {start + 112, 1024}});
  CHECK(plan[0].bytes() + plan[1].bytes() == w.file.size());

  auto both = plan_blocks(report, {{"vae", "v1"}, {"text_encoder", "t1"}});
  REQUIRE(both.size() == 3);
  CHECK(both[2].ranges == std::vector<gpu::file_range>{{0, start}, {start + 112, 1024}});
  std::uint64_t total = 0;
  for (const auto& block : both)
    total += block.bytes();
  CHECK(total == w.file.size());
}

TEST_CASE("a file without identities, or of one component, is kept whole", "[cache][blocks]") {
  const auto report = report_of(safetensors_of(checkpoint));
  CHECK(plan_blocks(report, {}).empty());
  CHECK(plan_blocks(report, {{"unet", "u1"}}).empty()); // the largest component is never shared
  const auto vae_only = report_of(safetensors_of({{"encoder.conv_in.weight", 32}, {"decoder.conv_in.weight", 16}}));
  CHECK(plan_blocks(vae_only, {{"vae", "v1"}}).empty());
}
