#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/issue.hpp"
#include "formats/pickle_scanner.hpp"
#include "formats/tensor_info.hpp"
#include "formats/zip_reader.hpp"

namespace modeld::formats {

// A storage's bytes as they sit in the file.
struct torch_storage_data {
  std::string key;
  std::string dtype;
  std::uint64_t numel = 0;
  std::uint64_t data_begin = 0; // absolute [begin, end), valid when `present`
  std::uint64_t data_end = 0;
  bool present = false;
  std::optional<std::uint32_t> expected_crc; // stored zip entries whose CRC is still unchecked
};

struct torch_archive_info {
  std::string format; // pytorch_zip, torchscript or pickle
  std::string prefix; // the archive's single top-level folder
  std::optional<std::string> byteorder;
  std::optional<std::string> version;
  std::size_t entry_count = 0;
  std::vector<std::string> pickles_scanned;
  std::vector<pickle_global> globals;
  std::vector<tensor_info> tensors;
  std::vector<torch_storage_data> storages;
  bool legacy = false;
};

// torch.save zip archives (and TorchScript archives): strict zip reading, every pickle entry
// scanned, layout checked against what data.pkl references. Codes: TORCH_*, ZIP_*, PICKLE_*.
torch_archive_info inspect_torch_zip(std::span<const std::uint8_t> file, issue_sink& issues,
                                     const zip_options& options = {});

// A non-zip pickle file: torch's legacy format (magic number, protocol 1001, sys_info, object,
// storage keys, raw storages) when it starts that way, else any pickle stream.
torch_archive_info inspect_pickle_file(std::span<const std::uint8_t> file, issue_sink& issues);

// Whether the file's first pickle is torch's legacy magic number.
bool looks_like_torch_legacy(std::span<const std::uint8_t> file) noexcept;

} // namespace modeld::formats
