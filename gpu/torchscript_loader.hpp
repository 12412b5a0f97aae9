// TorchScript archives into a device's memory through torch::jit::load, for load_weights
// (model_loader.cpp). Apart from the file, so that only torchscript_loader.cpp compiles torch's
// deserializer.
#pragma once

#include "formats/model_report.hpp"
#include "gpu/model_loader.hpp"

#include <c10/core/Device.h>

#include <string>
#include <variant>

namespace modeld::gpu {

// The module of `file` (the archive `report` describes) on `device`, its floating parameters and
// buffers converted to the requested dtype. Refused when the report's security scan did not pass
// (torchscript_refusal); the reason on refusal or cancel. torch's own failures are thrown.
std::variant<load_success, std::string> load_torchscript(const formats::model_report& report, const host_buffer& file,
                                                         c10::Device device, const load_request& request);

} // namespace modeld::gpu
