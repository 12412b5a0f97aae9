// Component identities: fine-tunes that carry byte-identical components get one identity for
// them whatever their prefix or tensor order; any byte, name, shape or dtype apart gives another.
#include "bytes.hpp"

#include "formats/component_identity.hpp"
#include "formats/inspect.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace modeld::formats;
using namespace modeld::formats::test;

namespace {

struct tensor_spec {
  std::string name;
  std::uint8_t fill;
  std::string dtype = "F32";
  std::size_t values = 16;
};

// A safetensors file of `tensors` (each `values` elements of bytes `fill`), in the given order.
bytes file_of(const std::vector<tensor_spec>& tensors) {
  std::string header = "{";
  std::size_t at = 0;
  std::vector<std::uint8_t> data;
  for (const auto& t : tensors) {
    auto size = t.values * (t.dtype == "F16" ? 2 : 4);
    if (header.size() > 1)
      header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" + std::to_string(t.values) +
              "],\"data_offsets\":[" + std::to_string(at) + "," + std::to_string(at + size) + "]}";
    data.insert(data.end(), size, t.fill);
    at += size;
  }
  header += "}";
  auto out = safetensors_file(header, 0);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<component_identity> identities_of(const bytes& file) {
  auto report = inspect_bytes(view(file), "model.safetensors");
  auto read = [&](std::uint8_t* to, std::uint64_t offset, std::uint64_t size) -> std::optional<std::string> {
    if (offset + size > file.size())
      return "past the end";
    std::memcpy(to, file.data() + offset, size);
    return std::nullopt;
  };
  auto result = identify_components(report, read);
  REQUIRE(std::holds_alternative<std::vector<component_identity>>(result));
  return std::get<std::vector<component_identity>>(result);
}

std::string identity(const std::vector<component_identity>& all, const std::string& component) {
  auto found = identity_of(all, component);
  REQUIRE(found);
  return *found;
}

// A checkpoint-shaped file: a unet part filled with `unet`, a VAE and a text encoder.
std::vector<tensor_spec> checkpoint(std::uint8_t unet, std::uint8_t vae = 7, std::uint8_t text = 9) {
  return {{"model.diffusion_model.input_blocks.0.0.weight", unet, "F32", 64},
          {"model.diffusion_model.out.2.weight", unet, "F32", 64},
          {"first_stage_model.encoder.conv_in.weight", vae},
          {"first_stage_model.decoder.conv_in.weight", vae},
          {"cond_stage_model.transformer.text_model.embeddings.weight", text}};
}

} // namespace

TEST_CASE("fine-tunes sharing a VAE and text encoder give those components one identity", "[identity]") {
  auto a = identities_of(file_of(checkpoint(1)));
  auto b = identities_of(file_of(checkpoint(2)));
  REQUIRE(a.size() == 2);
  CHECK(identity(a, "vae") == identity(b, "vae"));
  CHECK(identity(a, "text_encoder") == identity(b, "text_encoder"));
  CHECK(identity(a, "vae").size() == 64);
  // The largest component (the model's own network) gets none: it is never hashed.
  CHECK_FALSE(identity_of(a, "unet"));
}

TEST_CASE("a file of one component, or a TorchScript module, has no shareable component", "[identity]") {
  auto alone = file_of({{"encoder.conv_in.weight", 7}, {"decoder.conv_in.weight", 7}});
  auto report = inspect_bytes(view(alone), "model.safetensors");
  REQUIRE(report.components.size() == 1);
  CHECK(shareable_components(report).empty());
  CHECK(identities_of(alone).empty());

  auto pipeline = file_of(checkpoint(1));
  auto scripted = inspect_bytes(view(pipeline), "model.safetensors");
  REQUIRE(shareable_components(scripted).size() == 2);
  scripted.format = model_format::torchscript;
  CHECK(shareable_components(scripted).empty());
}

TEST_CASE("an identity does not depend on the file's order, prefix or wrapper", "[identity]") {
  auto ordered = checkpoint(1);
  auto reversed = std::vector<tensor_spec>(ordered.rbegin(), ordered.rend());
  CHECK(identity(identities_of(file_of(ordered)), "vae") == identity(identities_of(file_of(reversed)), "vae"));

  // A VAE beside a unet under a diffusers-style prefix ("vae.") names its tensors alike.
  auto prefixed = identities_of(file_of({{"model.diffusion_model.input_blocks.0.0.weight", 1, "F32", 128},
                                         {"vae.encoder.conv_in.weight", 7},
                                         {"vae.decoder.conv_in.weight", 7}}));
  CHECK(identity(prefixed, "vae") == identity(identities_of(file_of(ordered)), "vae"));

  auto wrapped = checkpoint(1);
  for (auto& t : wrapped)
    t.name = "state_dict." + t.name;
  CHECK(identity(identities_of(file_of(wrapped)), "vae") == identity(identities_of(file_of(ordered)), "vae"));
}

TEST_CASE("one byte, name, shape or dtype apart is another identity", "[identity]") {
  auto base = identity(identities_of(file_of(checkpoint(1))), "vae");
  CHECK(identity(identities_of(file_of(checkpoint(1, 8))), "vae") != base);

  auto renamed = checkpoint(1);
  renamed[2].name = "first_stage_model.encoder.conv_out.weight";
  CHECK(identity(identities_of(file_of(renamed)), "vae") != base);

  auto reshaped = checkpoint(1);
  reshaped[2].values = 8;
  reshaped[3].values = 24; // the same bytes in all, split otherwise
  CHECK(identity(identities_of(file_of(reshaped)), "vae") != base);

  auto retyped = checkpoint(1);
  retyped[2].dtype = "F16";
  retyped[2].values = 32; // the same bytes, read as another type
  CHECK(identity(identities_of(file_of(retyped)), "vae") != base);
}

TEST_CASE("a failed read or a cancel gives the reason, never an identity", "[identity]") {
  auto file = file_of(checkpoint(1));
  auto report = inspect_bytes(view(file), "model.safetensors");
  auto failing = [](std::uint8_t*, std::uint64_t, std::uint64_t) -> std::optional<std::string> { return "disk gone"; };
  auto failed = identify_components(report, failing);
  REQUIRE(std::holds_alternative<std::string>(failed));
  CHECK(std::get<std::string>(failed) == "disk gone");

  std::atomic<bool> cancel{true};
  auto never = [](std::uint8_t*, std::uint64_t, std::uint64_t) -> std::optional<std::string> { return std::nullopt; };
  auto cancelled = identify_components(report, never, &cancel);
  REQUIRE(std::holds_alternative<std::string>(cancelled));
  CHECK(std::get<std::string>(cancelled) == "cancelled");
}
