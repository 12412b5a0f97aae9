#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "formats/model_report.hpp"

namespace modeld::formats {

// Format from content alone. safetensors is tested first: its 8-byte length prefix can also
// read as the start of a pickle, and sniffing the pickle first is a known confusion. A zip is
// reported as pytorch_zip; whether it is TorchScript is decided once its entries are read.
// Pickles of protocols 0 and 1 have no magic and are recognised by their first opcodes
// (looks_like_pickle), after the formats that have one.
model_format detect_format(std::span<const std::uint8_t> bytes) noexcept;

// Formats a file with this extension (".pt", lower-case) may legitimately hold; empty when the
// extension promises nothing.
std::vector<model_format> formats_for_extension(std::string_view extension);

} // namespace modeld::formats
