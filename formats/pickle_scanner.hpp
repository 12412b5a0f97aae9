#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/global_policy.hpp"
#include "formats/issue.hpp"

namespace modeld::formats {

// A callable the pickle would import.
struct pickle_global {
  std::string module;
  std::string name;
  global_safety safety = global_safety::unlisted;
  std::uint64_t offset = 0; // absolute offset of the opcode
};

// A storage named by a torch persistent id ('storage', storage_type, key, location, numel).
struct pickle_storage {
  std::string key;
  std::string storage_type; // e.g. FloatStorage
  std::string dtype;        // canonical dtype, "unknown" if the storage type is not known
  std::string location;     // e.g. cpu, cuda:0
  std::uint64_t numel = 0;
};

// A tensor rebuilt by torch._utils._rebuild_tensor(_v2) (or a wrapper around it).
struct pickle_tensor {
  std::string name; // dict key path joined with '.', e.g. state_dict.model.diffusion_model.x
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> stride;
  std::string storage_key;
  std::uint64_t storage_offset = 0; // in elements
};

// The top-level value of one pickle, kept only in the shapes torch's legacy format needs.
struct pickle_root {
  enum class kind { other, integer, string_list } type = kind::other;
  std::string integer_le;            // little-endian two's complement bytes of an int root
  std::vector<std::string> strings;  // for a list of strings
  std::uint64_t begin = 0;           // absolute offsets of this pickle
  std::uint64_t end = 0;
};

struct pickle_scan_options {
  std::uint64_t base_offset = 0;    // where `bytes` sit in the file, for issue locations
  std::string origin;               // zip entry name, prefixed to messages
  bool torchscript = false;         // allow TorchScript's __torch__ classes
  std::size_t max_pickles = 64;     // concatenated pickles scanned before stopping
  std::size_t max_ops = 20'000'000;
  std::size_t max_values = 4'000'000;
  std::size_t max_stack = 1'000'000;
  std::size_t max_memo = 4'000'000;
  std::size_t max_name_depth = 64;  // nesting followed when naming tensors
};

struct pickle_scan_result {
  std::vector<pickle_global> globals;
  std::vector<pickle_storage> storages; // unique by key, first-seen order
  std::vector<pickle_tensor> tensors;
  std::vector<pickle_root> roots;       // one per complete pickle
  std::uint64_t consumed = 0;           // bytes up to the end of the last complete pickle
  int highest_protocol = 0;
  bool well_formed = false;             // the first pickle ran to STOP without errors
};

// Walks every opcode of protocols 0-5 without executing anything. Codes: PICKLE_*.
pickle_scan_result scan_pickle(std::span<const std::uint8_t> bytes, issue_sink& issues,
                               const pickle_scan_options& options = {});

// How much of a file looks_like_pickle reads at most.
inline constexpr std::size_t pickle_sniff_bytes = 4096;

// First bytes that mark a pickle: PROTO 0x80 with a protocol 0-5, or, for protocols 0 and 1
// (which have no marker), a prefix that parses as the start of a pickled object and imports only
// Python names. A prefix of a file is enough (catalog discovery reads 64 bytes).
bool looks_like_pickle(std::span<const std::uint8_t> bytes) noexcept;

// Canonical dtype of a torch storage class name (FloatStorage -> F32); nullopt if unknown.
std::optional<std::string> storage_dtype(std::string_view storage_type);

} // namespace modeld::formats
