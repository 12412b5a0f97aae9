#include "formats/architecture.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <unordered_map>

#include "formats/dtype.hpp"

namespace modeld::formats {

namespace {

// Lightning .ckpt files wrap everything in `state_dict`; loaders look inside it.
std::string_view strip_wrapper(std::string_view name) {
  if (name.starts_with("state_dict."))
    name.remove_prefix(11);
  return name;
}

class name_index {
public:
  explicit name_index(const std::vector<tensor_info>& tensors) {
    for (const auto& t : tensors)
      by_name_.emplace(strip_wrapper(t.name), &t);
  }

  const tensor_info* find(std::string_view name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  bool has(std::string_view name) const { return find(name) != nullptr; }

  std::size_t count_prefix(std::string_view prefix) const {
    return static_cast<std::size_t>(std::count_if(by_name_.begin(), by_name_.end(),
                                                  [&](auto& kv) { return kv.first.starts_with(prefix); }));
  }
  bool any_contains(std::string_view part) const {
    return std::any_of(by_name_.begin(), by_name_.end(),
                       [&](auto& kv) { return kv.first.find(part) != std::string_view::npos; });
  }
  bool any_prefix(std::string_view prefix) const {
    return std::any_of(by_name_.begin(), by_name_.end(),
                       [&](auto& kv) { return kv.first.starts_with(prefix); });
  }

  // shape[index] of the first tensor named prefix + <anything> + suffix.
  std::optional<std::uint64_t> dim_of_match(std::string_view prefix, std::string_view suffix,
                                            std::size_t index) const {
    for (const auto& [name, t] : by_name_)
      if (name.starts_with(prefix) && name.ends_with(suffix) && t->shape.size() > index)
        return t->shape[index];
    return std::nullopt;
  }

private:
  std::unordered_map<std::string_view, const tensor_info*> by_name_;
};

std::optional<std::uint64_t> dim(const tensor_info* t, std::size_t index) {
  if (t == nullptr || t->shape.size() <= index)
    return std::nullopt;
  return t->shape[index];
}

// The diffusion model family under `p` (ComfyUI's detect_unet_config, reduced to the
// distinctions modeld reports).
std::string unet_family(const name_index& names, const std::string& p) {
  if (names.has(p + "joint_blocks.0.context_block.attn.qkv.weight"))
    return "sd3";
  if (names.has(p + "double_blocks.0.img_attn.norm.key_norm.scale"))
    return "flux";
  if (!names.has(p + "input_blocks.0.0.weight"))
    return "unknown";
  if (const auto adm = dim(names.find(p + "label_emb.0.0.weight"), 1)) {
    if (*adm == 2816)
      return "sdxl";
    if (*adm == 2560)
      return "sdxl_refiner";
  }
  const auto context = names.dim_of_match(p, ".transformer_blocks.0.attn2.to_k.weight", 1);
  const auto channels = dim(names.find(p + "input_blocks.0.0.weight"), 0);
  if (channels == 384 || context == 1280)
    return "sdxl_refiner";
  if (context == 2048)
    return "sdxl";
  if (context == 1024)
    return "sd2";
  if (context == 768)
    return "sd1";
  return "unknown";
}

struct component_rule {
  std::string_view prefix;
  std::string_view component;
};

// Longest prefixes first so conditioner.embedders.1 does not land in a shorter rule.
constexpr std::array<component_rule, 17> component_rules{{
  {"model.diffusion_model.", "unet"},
  {"first_stage_model.", "vae"},
  {"cond_stage_model.", "text_encoder"},
  {"conditioner.embedders.0.", "text_encoder"},
  {"conditioner.embedders.1.", "text_encoder_2"},
  {"text_encoders.clip_l.", "text_encoder"},
  {"text_encoders.clip_g.", "text_encoder_2"},
  {"text_encoders.t5xxl.", "text_encoder_3"},
  {"control_model.", "controlnet"},
  {"model_ema.", "ema"},
  {"lora_unet_", "unet"},
  {"lora_te1_", "text_encoder"},
  {"lora_te2_", "text_encoder_2"},
  {"lora_te3_", "text_encoder_3"},
  {"lora_te_", "text_encoder"},
  {"vae.", "vae"},
  {"text_encoder.", "text_encoder"},
}};

std::string component_with_fallback(std::string_view name, const std::string& fallback) {
  name = strip_wrapper(name);
  for (const auto& rule : component_rules)
    if (name.starts_with(rule.prefix))
      return std::string(rule.component);
  return fallback;
}

// The component of a tensor no prefix rule names: the model's own type, or "other".
std::string component_fallback(std::string_view model_type) {
  return model_type == "unknown" || model_type == "checkpoint" ? "other" : std::string(model_type);
}

void summarise(const std::vector<tensor_info>& tensors, const std::string& fallback,
               architecture_result& out) {
  std::map<std::string, component_summary> components;
  std::map<std::string, std::uint64_t> bytes_by_dtype;
  std::map<std::string, std::set<std::string>> dtypes;
  for (const auto& t : tensors) {
    const auto name = component_with_fallback(t.name, fallback);
    auto& c = components[name];
    c.name = name;
    ++c.tensor_count;
    c.parameter_count += t.element_count;
    c.bytes += t.byte_size;
    dtypes[name].insert(t.dtype);
    bytes_by_dtype[t.dtype] += t.byte_size;
    out.parameter_count += t.element_count;
    out.tensor_bytes += t.byte_size;
  }
  for (auto& [name, c] : components) {
    c.dtypes.assign(dtypes[name].begin(), dtypes[name].end());
    out.components.push_back(std::move(c));
  }
  const auto dominant = std::max_element(bytes_by_dtype.begin(), bytes_by_dtype.end(),
                                         [](auto& a, auto& b) { return a.second < b.second; });
  if (dominant != bytes_by_dtype.end())
    out.precision = std::string(precision_label(dominant->first));
}

std::string metadata_value(const metadata_map& embedded, std::string_view key) {
  for (const auto& [k, v] : embedded)
    if (k == key)
      return v;
  return {};
}

} // namespace

architecture_result detect_architecture(const std::vector<tensor_info>& tensors,
                                        const metadata_map& embedded) {
  architecture_result out;
  const name_index names(tensors);
  auto decide = [&](std::string architecture, std::string type) {
    out.architecture = std::move(architecture);
    out.type = std::move(type);
  };

  const auto gguf_arch = metadata_value(embedded, "general.architecture");
  if (names.any_contains("lora_up.") || names.any_contains("lora_down.") ||
      names.any_contains(".lora_A.") || names.any_contains(".lora_B.") ||
      names.any_prefix("lora_unet_") || names.any_prefix("lora_te")) {
    decide("lora", "lora");
  } else if (names.any_prefix("control_model.") || names.any_prefix("input_hint_block.") ||
             names.any_prefix("controlnet_cond_embedding.")) {
    decide("controlnet", "controlnet");
  } else if (gguf_arch == "llama" || names.has("model.layers.0.self_attn.q_proj.weight") ||
             names.has("layers.0.attention.wq.weight") || names.has("blk.0.attn_q.weight")) {
    decide(gguf_arch.empty() || gguf_arch == "llama" ? "llama" : "unknown", "llm");
  } else if (!gguf_arch.empty() && names.any_prefix("blk.")) {
    decide("unknown", "llm");
  } else if (names.count_prefix("model.diffusion_model.") > 5) {
    const bool pipeline = names.any_prefix("first_stage_model.") || names.any_prefix("cond_stage_model.") ||
                          names.any_prefix("conditioner.") || names.any_prefix("text_encoders.");
    decide(unet_family(names, "model.diffusion_model."), pipeline ? "checkpoint" : "unet");
  } else if (const auto bare = unet_family(names, ""); bare != "unknown") {
    decide(bare, "unet");
  } else if ((names.has("encoder.conv_in.weight") && names.has("decoder.conv_in.weight")) ||
             (names.any_prefix("first_stage_model.") && names.count_prefix("first_stage_model.") == tensors.size())) {
    decide("vae", "vae");
  } else if (names.any_contains("text_model.encoder.layers.0.self_attn.k_proj.weight")) {
    decide("clip", "text_encoder");
  } else if (names.any_contains("encoder.block.0.layer.0.SelfAttention.k.weight")) {
    decide("t5", "text_encoder");
  }
  summarise(tensors, component_fallback(out.type), out);
  return out;
}

std::string component_of(std::string_view tensor_name, std::string_view model_type) {
  return component_with_fallback(tensor_name, component_fallback(model_type));
}

std::string_view name_within_component(std::string_view tensor_name) {
  tensor_name = strip_wrapper(tensor_name);
  for (const auto& rule : component_rules)
    if (tensor_name.starts_with(rule.prefix))
      return tensor_name.substr(rule.prefix.size());
  return tensor_name;
}

} // namespace modeld::formats
