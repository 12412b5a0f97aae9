// The identity of each component of a model (unet, vae, text_encoder, ...): a SHA-256 of its
// tensors' names inside the component, dtypes, shapes, sizes and bytes, so fine-tunes of one
// base model that carry byte-identical VAEs and text encoders give those components one
// identity, whatever prefix the file stores them under. Devices hold one copy per identity.
#pragma once

#include "formats/model_report.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace modeld::formats {

struct component_identity {
  std::string component; // its name in the report
  std::string identity;  // 64 lower-case hex digits

  bool operator==(const component_identity&) const = default;
};

// Reads `bytes` from `offset` of the model file into `to`; the reason when it cannot.
using range_reader = std::function<std::optional<std::string>(std::uint8_t* to, std::uint64_t offset, std::uint64_t bytes)>;

// The components of `report` worth an identity: in a model of several components, every one
// but its largest (the model's own network, a fine-tune's unet: never the same bytes in two
// models, and most of the file to hash), whose tensors all lie plainly in the file (not a
// TorchScript module, which loads whole; not ONNX external data or compressed zip entries).
// A file of one component has none: it is a model of its own, loaded whole.
std::vector<std::string> shareable_components(const model_report& report);

// The tensors of each component of `report` (by the component's name), each by its name inside
// the component (name_within_component), in the order of those names.
std::map<std::string, std::map<std::string, const tensor_info*>> tensors_by_component(const model_report& report);

// The identity of each shareable component, reading its tensors' bytes through `read`, in
// the report's component order; the reason when a read fails or `cancel` is set.
std::variant<std::vector<component_identity>, std::string> identify_components(const model_report& report,
                                                                                const range_reader& read,
                                                                                const std::atomic<bool>* cancel = nullptr);

// The identity `identities` give `component`, or none.
std::optional<std::string> identity_of(const std::vector<component_identity>& identities, const std::string& component);

} // namespace modeld::formats
