#include "formats/inspect.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <set>

#include "formats/architecture.hpp"
#include "formats/gguf.hpp"
#include "formats/identify.hpp"
#include "formats/onnx.hpp"
#include "formats/safetensors.hpp"
#include "formats/torch_archive.hpp"

namespace modeld::formats {

namespace {

std::string lower_extension(std::string_view file_name) {
  const auto path = std::filesystem::path(std::string(file_name));
  auto ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

void add_structure(model_report& report, std::string key, std::string value) {
  report.structure.emplace_back(std::move(key), std::move(value));
}

struct parse_outcome {
  std::optional<std::uint64_t> tensor_data_start;
  std::vector<data_region> regions; // numerics and deferred CRC work
};

void tensor_regions(const std::vector<tensor_info>& tensors, parse_outcome& out) {
  for (const auto& t : tensors)
    if (t.data_in_file && float_kind_of(t.dtype) != float_kind::none)
      out.regions.push_back({t.name, t.data_begin, t.data_end, float_kind_of(t.dtype), std::nullopt});
}

void parse_safetensors_file(std::span<const std::uint8_t> bytes, issue_sink& issues,
                            model_report& report, parse_outcome& out) {
  auto info = parse_safetensors(bytes, issues);
  add_structure(report, "header_length", std::to_string(info.header_length));
  add_structure(report, "data_start", std::to_string(info.data_start));
  add_structure(report, "tensor_count", std::to_string(info.tensors.size()));
  report.embedded = std::move(info.metadata);
  report.tensors = std::move(info.tensors);
  if (info.data_start > 0)
    out.tensor_data_start = info.data_start;
  tensor_regions(report.tensors, out);
}

void parse_gguf_file(std::span<const std::uint8_t> bytes, issue_sink& issues,
                     model_report& report, parse_outcome& out) {
  auto info = parse_gguf(bytes, issues);
  add_structure(report, "gguf_version", std::to_string(info.version));
  add_structure(report, "tensor_count", std::to_string(info.tensor_count));
  add_structure(report, "kv_count", std::to_string(info.kv_count));
  add_structure(report, "alignment", std::to_string(info.alignment));
  add_structure(report, "data_offset", std::to_string(info.data_offset));
  report.embedded = std::move(info.metadata);
  report.tensors = std::move(info.tensors);
  tensor_regions(report.tensors, out);
}

void parse_onnx_file(std::span<const std::uint8_t> bytes, issue_sink& issues,
                     model_report& report, parse_outcome& out) {
  auto info = parse_onnx(bytes, issues);
  add_structure(report, "ir_version", std::to_string(info.ir_version));
  std::string opsets;
  for (const auto& [domain, version] : info.opset_import)
    opsets += (opsets.empty() ? "" : ",") + (domain.empty() ? std::string("ai.onnx") : domain) +
              ":" + std::to_string(version);
  add_structure(report, "opset_import", opsets);
  add_structure(report, "producer_name", info.producer_name);
  add_structure(report, "producer_version", info.producer_version);
  add_structure(report, "graph_name", info.graph_name);
  add_structure(report, "node_count", std::to_string(info.node_count));
  std::string ops;
  for (const auto& [op, count] : info.op_types)
    ops += (ops.empty() ? "" : ",") + op + ":" + std::to_string(count);
  add_structure(report, "op_types", ops);
  add_structure(report, "initializer_count", std::to_string(info.initializers.size()));
  report.embedded = std::move(info.metadata);
  report.tensors = std::move(info.initializers);
  tensor_regions(report.tensors, out);
}

void torch_report(torch_archive_info&& info, model_report& report, parse_outcome& out) {
  report.format = info.format == "torchscript" ? model_format::torchscript
                  : info.format == "pickle"    ? model_format::pickle
                                               : model_format::pytorch_zip;
  if (!info.prefix.empty())
    add_structure(report, "prefix", info.prefix);
  if (info.entry_count > 0)
    add_structure(report, "entry_count", std::to_string(info.entry_count));
  if (info.byteorder)
    add_structure(report, "byteorder", *info.byteorder);
  if (info.version)
    add_structure(report, "version", *info.version);
  add_structure(report, "legacy", info.legacy ? "true" : "false");
  std::string scanned;
  for (const auto& name : info.pickles_scanned)
    scanned += (scanned.empty() ? "" : ",") + name;
  add_structure(report, "pickles_scanned", scanned);
  report.security.scanned = true;
  // Every refused global is named in unsafe_globals, whichever label it got: a client that
  // reads only that list must not miss one. Each pickle of an archive lists its own, so the
  // same name may come several times.
  std::set<std::string> listed;
  for (const auto& g : info.globals) {
    if (g.safety == global_safety::safe)
      continue;
    auto qualified = g.module + "." + g.name;
    if (!listed.insert(qualified).second)
      continue;
    if (g.safety == global_safety::unlisted)
      report.security.unknown_globals.push_back(qualified);
    report.security.unsafe_globals.push_back(std::move(qualified));
  }
  // Numerics run over storages, not tensors: views share storages and would count twice.
  for (const auto& s : info.storages)
    if (s.present && (float_kind_of(s.dtype) != float_kind::none || s.expected_crc))
      out.regions.push_back({s.key, s.data_begin, s.data_end, float_kind_of(s.dtype), s.expected_crc});
  report.tensors = std::move(info.tensors);
}

void run_comprehensive(std::span<const std::uint8_t> bytes, const mapped_file* mapping,
                       const parse_outcome& parsed, const inspect_options& options,
                       issue_sink& issues, model_report& report) {
  scan_request request;
  request.tensor_data_start = parsed.tensor_data_start;
  request.regions = parsed.regions;
  static const std::atomic<bool> never{false};
  const auto& cancel = options.cancel != nullptr ? *options.cancel : never;
  const auto result = mapping != nullptr
                        ? scan_mapped(*mapping, request, options.progress, cancel)
                        : scan_bytes(bytes, request, options.progress, cancel);
  if (result.cancelled) {
    report.cancelled = true;
    issues.error("SCAN_CANCELLED", "the checksum and numerics pass was cancelled");
    return;
  }
  report.checksums = checksum_summary{result.sha256, result.autov2, result.autov1,
                                      result.tensor_sha256};
  report.numerics = numerics_summary{result.nan_count, result.inf_count, result.values_scanned,
                                     result.regions_scanned};
  for (const auto& f : result.findings) {
    if (f.nan_count > 0)
      issues.error("TENSOR_NAN_VALUES", std::to_string(f.nan_count) + " NaN values",
                   at_tensor(f.name));
    if (f.inf_count > 0)
      issues.warning("TENSOR_INF_VALUES", std::to_string(f.inf_count) + " infinite values",
                     at_tensor(f.name));
    if (f.crc_mismatch)
      issues.warning("ZIP_CRC_MISMATCH", "CRC-32 of the stored bytes does not match",
                     at_tensor(f.name));
  }
}

void inspect_content(std::span<const std::uint8_t> bytes, const mapped_file* mapping,
                     const inspect_options& options, issue_sink& issues, model_report& report) {
  if (bytes.empty()) {
    issues.error("FILE_EMPTY", "the file is empty");
    return;
  }
  auto format = detect_format(bytes);
  const auto expected = formats_for_extension(report.file.extension);
  // Content that matches nothing but carries a single-format extension goes to that parser,
  // whose errors say precisely what is wrong (ONNX has no magic at all).
  if (format == model_format::unknown && expected.size() == 1)
    format = expected[0];
  if (format == model_format::unknown) {
    issues.error("UNKNOWN_FORMAT", "content matches no supported model format", at_offset(0));
    return;
  }
  report.format = format;

  parse_outcome parsed;
  zip_options zip;
  // Comprehensive checks big stored entries in its streaming pass instead.
  zip.verify_crc_up_to = options.level == validation_level::basic      ? 0
                         : options.level == validation_level::standard ? 64ULL << 20
                                                                       : 1ULL << 20;
  switch (format) {
    case model_format::safetensors: parse_safetensors_file(bytes, issues, report, parsed); break;
    case model_format::gguf: parse_gguf_file(bytes, issues, report, parsed); break;
    case model_format::onnx: parse_onnx_file(bytes, issues, report, parsed); break;
    case model_format::pytorch_zip:
    case model_format::torchscript: torch_report(inspect_torch_zip(bytes, issues, zip), report, parsed); break;
    case model_format::pickle: torch_report(inspect_pickle_file(bytes, issues), report, parsed); break;
    case model_format::unknown: break;
  }
  if (!expected.empty() && std::find(expected.begin(), expected.end(), report.format) == expected.end())
    issues.warning("EXTENSION_MISMATCH",
                   "extension " + report.file.extension + " but the content is " +
                     std::string(to_string(report.format)));

  auto arch = detect_architecture(report.tensors, report.embedded);
  report.architecture = std::move(arch.architecture);
  report.type = std::move(arch.type);
  report.precision = std::move(arch.precision);
  report.parameter_count = arch.parameter_count;
  report.tensor_bytes = arch.tensor_bytes;
  report.components = std::move(arch.components);

  if (options.level == validation_level::comprehensive)
    run_comprehensive(bytes, mapping, parsed, options, issues, report);
}

template <class Body>
void guarded(issue_sink& issues, Body&& body) {
  try {
    body();
  } catch (const std::bad_alloc&) {
    issues.error("INTERNAL_ERROR", "out of memory while inspecting");
  } catch (const std::exception& e) {
    issues.error("INTERNAL_ERROR", std::string("unexpected failure: ") + e.what());
  } catch (...) {
    issues.error("INTERNAL_ERROR", "unexpected failure");
  }
}

// A report for `path` whose content comes from `mapping_of()` (which sets `error` when it maps
// nothing).
template <class Map>
model_report inspect_mapping(const std::filesystem::path& path, const inspect_options& options, Map mapping_of) {
  model_report report;
  issue_sink issues;
  guarded(issues, [&] {
    report.path = path.string();
    report.file.extension = lower_extension(path.filename().string());
    report.file.exists = true;
    std::string error;
    auto mapping = mapping_of(report, issues, error);
    if (!mapping.is_open()) {
      if (report.file.exists)
        issues.error("FILE_UNREADABLE", "cannot map " + report.path + ": " + error);
      return;
    }
    report.file.readable = true;
    report.file.size_bytes = mapping.size();
    inspect_content(mapping.bytes(), &mapping, options, issues, report);
    if (mapping.truncated())
      issues.error("FILE_CHANGED", "the file shrank while it was inspected (past its new end the mapping read zeros, "
                                   "so this report does not describe any state of the file); inspect it again");
  });
  report.issues = issues.take();
  return report;
}

} // namespace

model_report inspect_file(const std::filesystem::path& path, const inspect_options& options) {
  return inspect_mapping(path, options, [&](model_report& report, issue_sink& issues, std::string& error) {
    std::error_code ec;
    report.file.exists = std::filesystem::exists(path, ec);
    if (!report.file.exists) {
      issues.error("FILE_NOT_FOUND", "no file at " + report.path);
      return mapped_file{};
    }
    return mapped_file::open(path, error);
  });
}

model_report inspect_opened(unique_fd file, const std::filesystem::path& path, const inspect_options& options) {
  return inspect_mapping(path, options, [&](model_report&, issue_sink&, std::string& error) {
    return mapped_file::map(std::move(file), error);
  });
}

model_report inspect_bytes(std::span<const std::uint8_t> bytes, std::string_view file_name,
                           const inspect_options& options) {
  model_report report;
  issue_sink issues;
  guarded(issues, [&] {
    report.path = std::string(file_name);
    report.file = {true, true, bytes.size(), lower_extension(file_name)};
    inspect_content(bytes, nullptr, options, issues, report);
  });
  report.issues = issues.take();
  return report;
}

} // namespace modeld::formats
