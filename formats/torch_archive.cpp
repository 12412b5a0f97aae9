#include "formats/torch_archive.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "formats/byte_reader.hpp"
#include "formats/checked_math.hpp"
#include "formats/crc32.hpp"
#include "formats/dtype.hpp"
#include "formats/inflate.hpp"

namespace modeld::formats {

namespace {

// torch.save's legacy magic number 0x1950A86A20F9469CFC6C, as pickle's LONG1 stores it.
const std::string legacy_magic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
const std::string legacy_protocol("\xe9\x03", 2); // 1001
// Deflated pickles larger than this are not inflated into memory (reported unscannable).
constexpr std::uint64_t max_inflated_pickle = 256ULL << 20;
// All deflated pickles of one archive together may inflate to this much; a zip of many
// maximally compressed pickles must not turn into terabytes of work.
constexpr std::uint64_t inflate_budget = 1ULL << 30;

std::optional<std::uint64_t> element_size(const std::string& dtype) {
  const auto bits = element_bits(dtype);
  if (!bits)
    return std::nullopt;
  return std::max(1u, *bits / 8);
}

// Case-blind: zip readers (and Windows) open `X.PKL` as readily as `x.pkl`.
bool is_pickle_name(std::string_view name) {
  const auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  };
  for (std::string_view suffix : {".pkl", ".pickle", ".data", ".dat", ".joblib", ".debug_pkl"})
    if (name.size() > suffix.size() &&
        std::equal(suffix.begin(), suffix.end(), name.end() - static_cast<std::ptrdiff_t>(suffix.size()), same))
      return true;
  return false;
}

// A pickle by name (TorchScript adds `.debug_pkl`) or by its first bytes, looking inside
// deflated entries too: a pickle under an innocent name is a known scanner bypass.
bool is_pickle_entry(const zip_archive& archive, std::span<const std::uint8_t> file,
                     const zip_entry& entry) {
  if (is_pickle_name(entry.name))
    return true;
  if (!entry.data_valid)
    return false;
  if (entry.stored())
    return looks_like_pickle(archive.data(file, entry));
  if (entry.method != 8)
    return false;
  const auto head = inflate_prefix(archive.data(file, entry), pickle_sniff_bytes);
  return head && looks_like_pickle(*head);
}

std::string trimmed(std::span<const std::uint8_t> bytes) {
  std::string text(as_chars(bytes.first(std::min<std::size_t>(bytes.size(), 64))));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

// Turns the pickle's tensor table into tensor_info records placed in the file, checking each
// tensor's view against its storage.
void place_tensors(const pickle_scan_result& scan, const std::string& name_prefix,
                   const std::unordered_map<std::string, std::size_t>& storage_index,
                   torch_archive_info& info, issue_sink& issues) {
  for (const auto& t : scan.tensors) {
    tensor_info out;
    out.name = name_prefix + t.name;
    out.dtype = t.dtype;
    out.shape = t.shape;
    out.data_in_file = false;
    const auto where = at_tensor(out.name);
    const auto count = checked_product(t.shape);
    const auto size = element_size(t.dtype);
    const auto found = storage_index.find(t.storage_key);
    if (!count || t.stride.size() != t.shape.size()) {
      issues.error("TORCH_TENSOR_OUT_OF_STORAGE", "tensor size or stride is inconsistent", where);
      info.tensors.push_back(std::move(out));
      continue;
    }
    out.element_count = *count;
    if (size)
      out.byte_size = checked_mul(*count, *size).value_or(UINT64_MAX);
    if (found == storage_index.end()) {
      info.tensors.push_back(std::move(out));
      continue;
    }
    const auto& storage = info.storages[found->second];
    // Highest element the view touches, with checked arithmetic: a crafted stride must not
    // wrap around into an in-bounds index.
    std::optional<std::uint64_t> extent = t.storage_offset;
    if (*count > 0) {
      for (std::size_t i = 0; i < t.shape.size() && extent; ++i) {
        const auto step = checked_mul(t.shape[i] - 1, t.stride[i]);
        extent = step ? checked_add(*extent, *step) : std::nullopt;
      }
      if (extent)
        extent = checked_add(*extent, 1);
    }
    if (!extent || *extent > storage.numel) {
      issues.error("TORCH_TENSOR_OUT_OF_STORAGE",
                   "tensor view reaches past the " + std::to_string(storage.numel) +
                     " elements of storage \"" + storage.key + "\"",
                   where);
    } else if (storage.present && size) {
      out.data_begin = storage.data_begin + t.storage_offset * *size;
      out.data_end = storage.data_begin + *extent * *size;
      out.data_in_file = true;
    }
    info.tensors.push_back(std::move(out));
  }
}

void collect_globals(const pickle_scan_result& scan, torch_archive_info& info) {
  info.globals.insert(info.globals.end(), scan.globals.begin(), scan.globals.end());
}

// Matches one pickle's storages to the `data/<key>` (or `constants/<key>`) entries.
void place_storages(const zip_archive& archive,
                    const pickle_scan_result& scan, const std::string& folder,
                    std::set<std::string>& referenced,
                    std::unordered_map<std::string, std::size_t>& index,
                    torch_archive_info& info, issue_sink& issues) {
  for (const auto& s : scan.storages) {
    const auto entry_name = folder + s.key;
    referenced.insert(entry_name);
    torch_storage_data data;
    data.key = s.key;
    data.dtype = s.dtype;
    data.numel = s.numel;
    const auto* entry = archive.find(entry_name);
    const auto where = at_tensor(entry_name);
    if (entry == nullptr) {
      issues.error("TORCH_MISSING_STORAGE", "data.pkl references a storage the archive lacks",
                   where);
    } else if (!entry->stored()) {
      issues.warning("TORCH_COMPRESSED_STORAGE",
                     "storage is compressed: it cannot be memory-mapped or checked in place",
                     where);
    } else if (const auto size = element_size(s.dtype); !size) {
      issues.warning("TORCH_UNKNOWN_STORAGE_TYPE",
                     "storage type " + s.storage_type + " has no known element size", where);
    } else {
      const auto expected = checked_mul(s.numel, *size);
      if (!expected || *expected != entry->uncompressed_size)
        issues.error("TORCH_STORAGE_SIZE_MISMATCH",
                     "storage holds " + std::to_string(entry->uncompressed_size) +
                       " bytes, numel x element size needs " +
                       (expected ? std::to_string(*expected) : std::string("more than 2^64")),
                     where);
      else if (entry->data_valid && entry->stored()) {
        data.present = true;
        data.data_begin = entry->data_offset;
        data.data_end = entry->data_offset + entry->compressed_size;
        if (!entry->crc_checked)
          data.expected_crc = entry->crc32;
      }
    }
    index.emplace(s.key, info.storages.size());
    info.storages.push_back(std::move(data));
  }
}

std::string top_folder(std::string_view name) {
  const auto slash = name.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(name.substr(0, slash));
}

} // namespace

bool looks_like_torch_legacy(std::span<const std::uint8_t> file) noexcept {
  if (!looks_like_pickle(file))
    return false;
  issue_sink ignored;
  pickle_scan_options options;
  options.max_pickles = 1;
  const auto scan = scan_pickle(file.first(std::min<std::size_t>(file.size(), 64)), ignored, options);
  return !scan.roots.empty() && scan.roots.front().integer_le == legacy_magic;
}

torch_archive_info inspect_torch_zip(std::span<const std::uint8_t> file, issue_sink& issues,
                                     const zip_options& options) {
  torch_archive_info info;
  info.format = "pytorch_zip";
  const auto archive = read_zip(file, issues, options);
  if (!archive.parsed)
    return info;
  info.entry_count = archive.entries.size();

  std::map<std::string, std::size_t> folders;
  for (const auto& e : archive.entries)
    ++folders[top_folder(e.name)];
  if (folders.size() != 1 || folders.begin()->first.empty())
    issues.error("TORCH_MULTIPLE_PREFIXES",
                 "entries do not share one top-level folder as torch.save writes them");
  if (!folders.empty())
    info.prefix = std::max_element(folders.begin(), folders.end(), [](auto& a, auto& b) {
                    return a.second < b.second;
                  })->first;
  const auto base = info.prefix + "/";
  const bool torchscript =
    archive.find(base + "constants.pkl") != nullptr ||
    std::any_of(archive.entries.begin(), archive.entries.end(),
                [&](const zip_entry& e) { return e.name.starts_with(base + "code/"); });
  if (torchscript)
    info.format = "torchscript";

  if (const auto* e = archive.find(base + "byteorder"); e && e->data_valid) {
    info.byteorder = trimmed(archive.data(file, *e));
    if (*info.byteorder == "big")
      issues.warning("TORCH_BIG_ENDIAN", "storages are big-endian", at_tensor(e->name));
    else if (*info.byteorder != "little")
      issues.error("TORCH_BAD_BYTEORDER", "byteorder is neither little nor big", at_tensor(e->name));
  } else {
    issues.info("TORCH_MISSING_BYTEORDER", "no byteorder record (torch before 2.0); little-endian assumed");
  }
  const auto* version = archive.find(base + "version");
  if (version == nullptr)
    version = archive.find(base + ".data/version");
  if (version != nullptr && version->data_valid)
    info.version = trimmed(archive.data(file, *version));
  else
    issues.error("TORCH_MISSING_VERSION", "no version record; torch refuses such archives");

  std::set<std::string> referenced;
  std::unordered_set<std::string> scanned;
  std::uint64_t inflated_total = 0;
  auto scan_entry = [&](const zip_entry& entry) -> std::optional<pickle_scan_result> {
    scanned.insert(entry.name);
    if (!entry.data_valid)
      return std::nullopt;
    pickle_scan_options scan_options;
    scan_options.base_offset = entry.data_offset;
    scan_options.origin = entry.name;
    scan_options.torchscript = torchscript;
    std::vector<std::uint8_t> inflated;
    auto bytes = archive.data(file, entry);
    if (!entry.stored()) {
      // torch (miniz) inflates deflated pickles, so they are scanned like stored ones.
      std::string error;
      const bool affordable = entry.uncompressed_size <= max_inflated_pickle &&
                              entry.uncompressed_size <= inflate_budget - inflated_total;
      auto out = entry.method == 8 && affordable
                   ? inflate_raw(bytes, entry.uncompressed_size, error)
                   : std::nullopt;
      if (!affordable)
        error = "inflated size over the scanning budget";
      if (out)
        inflated_total += out->size();
      if (!out || out->size() != entry.uncompressed_size) {
        issues.error("ZIP_UNSCANNABLE_PICKLE",
                     "compressed pickle could not be inflated for scanning" +
                       (error.empty() ? std::string() : ": " + error),
                     at_tensor(entry.name, entry.data_offset));
        return std::nullopt;
      }
      if (crc32(*out) != entry.crc32)
        issues.warning("ZIP_CRC_MISMATCH", "CRC-32 of the inflated bytes does not match",
                       at_tensor(entry.name, entry.data_offset));
      inflated = std::move(*out);
      bytes = inflated;
      scan_options.origin += " (inflated)";
    }
    info.pickles_scanned.push_back(entry.name);
    auto result = scan_pickle(bytes, issues, scan_options);
    collect_globals(result, info);
    return result;
  };

  const auto* data_pkl = archive.find(base + "data.pkl");
  if (data_pkl == nullptr)
    issues.error("TORCH_MISSING_DATA_PKL", "no " + base + "data.pkl in the archive");
  // data.pkl's storages live under data/, constants.pkl's under constants/.
  const std::pair<const zip_entry*, std::string> roots[] = {
    {data_pkl, base + "data/"},
    {archive.find(base + "constants.pkl"), base + "constants/"},
  };
  for (const auto& [entry, folder] : roots) {
    if (entry == nullptr)
      continue;
    const auto scan = scan_entry(*entry);
    if (!scan)
      continue;
    std::unordered_map<std::string, std::size_t> index;
    place_storages(archive, *scan, folder, referenced, index, info, issues);
    place_tensors(*scan, entry == data_pkl ? std::string() : std::string("constants."), index,
                  info, issues);
  }

  for (const auto& entry : archive.entries) {
    if (scanned.contains(entry.name) || referenced.contains(entry.name))
      continue;
    if (is_pickle_entry(archive, file, entry))
      scan_entry(entry);
    else if (entry.name.starts_with(base + "data/"))
      issues.warning("TORCH_UNREFERENCED_ENTRY", "storage entry that data.pkl never references",
                     at_tensor(entry.name));
  }
  return info;
}

torch_archive_info inspect_pickle_file(std::span<const std::uint8_t> file, issue_sink& issues) {
  torch_archive_info info;
  info.format = "pickle";
  if (!looks_like_torch_legacy(file)) {
    const auto scan = scan_pickle(file, issues);
    collect_globals(scan, info);
    std::unordered_map<std::string, std::size_t> none;
    place_tensors(scan, "", none, info, issues);
    return info;
  }
  info.legacy = true;
  pickle_scan_options options;
  options.max_pickles = 5; // magic, protocol, sys_info, object, storage keys; raw data follows
  const auto scan = scan_pickle(file, issues, options);
  collect_globals(scan, info);
  if (scan.roots.size() < 5) {
    if (!issues.has_errors())
      issues.error("TORCH_LEGACY_TRUNCATED", "legacy torch file ends inside its pickles");
    return info;
  }
  if (scan.roots[1].integer_le != legacy_protocol)
    issues.error("TORCH_LEGACY_BAD_PROTOCOL", "legacy protocol version is not 1001",
                 at_offset(scan.roots[1].begin));
  if (scan.roots[4].type != pickle_root::kind::string_list) {
    issues.error("TORCH_LEGACY_BAD_KEYS", "storage key list is not a list of strings",
                 at_offset(scan.roots[4].begin));
    return info;
  }
  std::unordered_map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < scan.storages.size(); ++i)
    by_key.emplace(scan.storages[i].key, i);

  std::unordered_map<std::string, std::size_t> index;
  std::uint64_t position = scan.consumed;
  for (const auto& key : scan.roots[4].strings) {
    const auto found = by_key.find(key);
    if (found == by_key.end()) {
      issues.error("TORCH_MISSING_STORAGE", "storage key list names a storage no tensor uses",
                   at_tensor(key, position));
      return info;
    }
    const auto& s = scan.storages[found->second];
    const auto numel = load_le<std::uint64_t>(file, position);
    const auto size = element_size(s.dtype);
    if (!size) {
      issues.error("TORCH_UNKNOWN_STORAGE_TYPE",
                   "storage type " + s.storage_type + " has no known element size; the raw "
                   "data after it cannot be located",
                   at_tensor(key, position));
      return info;
    }
    const auto bytes = numel ? checked_mul(*numel, *size) : std::nullopt;
    const auto end = bytes ? checked_add(position + 8, *bytes) : std::nullopt;
    if (!end || *end > file.size()) {
      issues.error("TORCH_LEGACY_TRUNCATED", "raw storage data runs past the end of the file",
                   at_tensor(key, position));
      return info;
    }
    if (*numel != s.numel)
      issues.error("TORCH_STORAGE_SIZE_MISMATCH",
                   "raw storage holds " + std::to_string(*numel) + " elements, the pickle says " +
                     std::to_string(s.numel),
                   at_tensor(key, position));
    torch_storage_data data;
    data.key = key;
    data.dtype = s.dtype;
    data.numel = *numel;
    data.data_begin = position + 8;
    data.data_end = *end;
    data.present = true;
    index.emplace(key, info.storages.size());
    info.storages.push_back(std::move(data));
    position = *end;
  }
  if (position < file.size())
    issues.warning("TORCH_TRAILING_DATA",
                   std::to_string(file.size() - position) + " bytes follow the last storage",
                   at_offset(position));
  place_tensors(scan, "", index, info, issues);
  return info;
}

} // namespace modeld::formats
