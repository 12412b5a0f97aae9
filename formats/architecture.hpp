#pragma once

#include <vector>

#include "formats/model_report.hpp"

namespace modeld::formats {

struct architecture_result {
  std::string architecture = "unknown";
  std::string type = "unknown";
  std::string precision = "unknown";
  std::uint64_t parameter_count = 0;
  std::uint64_t tensor_bytes = 0;
  std::vector<component_summary> components;
};

// Architecture and type from tensor names and shapes the way ComfyUI's model_detection does
// (UNet prefix, context dimension, label_emb, joint/double blocks), plus LoRA, CLIP, T5 and
// LLM layouts; components split by the usual checkpoint prefixes; precision = the dtype
// holding the most bytes.
architecture_result detect_architecture(const std::vector<tensor_info>& tensors,
                                        const metadata_map& embedded);

// The component (unet, vae, text_encoder, ...) a tensor belongs to in a model of `model_type`:
// the rule the components of a report were counted by, for loaders that pick components.
std::string component_of(std::string_view tensor_name, std::string_view model_type);
// The tensor's name inside its component: without a wrapper (state_dict.) or the component's
// prefix (first_stage_model., conditioner.embedders.1., ...), so a checkpoint's VAE and a VAE
// file name their tensors alike.
std::string_view name_within_component(std::string_view tensor_name);

} // namespace modeld::formats
