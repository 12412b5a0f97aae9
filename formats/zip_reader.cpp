#include "formats/zip_reader.hpp"

#include <algorithm>
#include <unordered_set>

#include "formats/byte_reader.hpp"
#include "formats/checked_math.hpp"
#include "formats/crc32.hpp"

namespace modeld::formats {

namespace {

constexpr std::uint32_t local_signature = 0x04034b50;
constexpr std::uint32_t central_signature = 0x02014b50;
constexpr std::uint32_t eocd_signature = 0x06054b50;
constexpr std::uint32_t zip64_eocd_signature = 0x06064b50;
constexpr std::uint32_t zip64_locator_signature = 0x07064b50;
constexpr std::uint64_t eocd_size = 22;
constexpr std::uint64_t max_comment = 0xFFFF;
constexpr std::uint16_t flag_encrypted = 1u << 0;
constexpr std::uint16_t flag_data_descriptor = 1u << 3;
constexpr std::uint16_t flag_strong_encryption = 1u << 6;

struct end_record {
  std::uint64_t offset = 0; // of the EOCD (or of the ZIP64 EOCD when present)
  std::uint64_t entries = 0;
  std::uint64_t cd_size = 0;
  std::uint64_t cd_offset = 0;
  bool zip64 = false;
};

// The EOCD search is bounded by the largest possible comment; among candidates the last one
// whose comment reaches exactly the end of the file wins, so a signature planted inside a
// comment cannot redirect the directory.
std::optional<std::uint64_t> find_eocd(std::span<const std::uint8_t> file, issue_sink& issues) {
  if (file.size() < eocd_size)
    return std::nullopt;
  const std::uint64_t last = file.size() - eocd_size;
  const std::uint64_t first = last > max_comment ? last - max_comment : 0;
  std::optional<std::uint64_t> fallback;
  for (std::uint64_t at = last + 1; at-- > first;) {
    if (load_le<std::uint32_t>(file, at) != eocd_signature)
      continue;
    const auto comment = *load_le<std::uint16_t>(file, at + 20);
    if (at + eocd_size + comment == file.size())
      return at;
    if (!fallback)
      fallback = at;
  }
  if (fallback)
    issues.warning("ZIP_TRAILING_DATA",
                   "the end-of-central-directory comment does not reach the end of the file",
                   at_offset(*fallback));
  return fallback;
}

std::optional<end_record> read_end(std::span<const std::uint8_t> file, std::uint64_t at,
                                   issue_sink& issues) {
  byte_reader in(file.subspan(at), at);
  in.skip(4);
  const auto disk = *in.read<std::uint16_t>();
  const auto cd_disk = *in.read<std::uint16_t>();
  const auto disk_entries = *in.read<std::uint16_t>();
  const auto entries = *in.read<std::uint16_t>();
  const auto cd_size = *in.read<std::uint32_t>();
  const auto cd_offset = *in.read<std::uint32_t>();
  if (disk != 0 || cd_disk != 0 || disk_entries != entries) {
    issues.error("ZIP_MULTI_DISK", "multi-disk archives are not model files", at_offset(at));
    return std::nullopt;
  }
  end_record end{at, entries, cd_size, cd_offset, false};

  // torch writes ZIP64 records for large archives; the locator sits right before the EOCD.
  const bool needs_zip64 = entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF;
  const bool has_locator = at >= 20 && load_le<std::uint32_t>(file, at - 20) == zip64_locator_signature;
  if (!needs_zip64 && !has_locator)
    return end;
  if (!has_locator) {
    issues.error("ZIP_BAD_ZIP64", "ZIP64 values without a ZIP64 locator", at_offset(at));
    return std::nullopt;
  }
  const auto record_offset = *load_le<std::uint64_t>(file, at - 20 + 8);
  byte_reader record(file, 0);
  if (record_offset >= at - 20 || !record.seek(record_offset) ||
      record.read<std::uint32_t>() != zip64_eocd_signature) {
    issues.error("ZIP_BAD_ZIP64", "ZIP64 locator points at no ZIP64 end record",
                 at_offset(at - 20));
    return std::nullopt;
  }
  const auto record_size = record.read<std::uint64_t>();
  record.skip(4); // versions
  const auto disk64 = record.read<std::uint32_t>();
  const auto cd_disk64 = record.read<std::uint32_t>();
  const auto disk_entries64 = record.read<std::uint64_t>();
  const auto entries64 = record.read<std::uint64_t>();
  const auto cd_size64 = record.read<std::uint64_t>();
  const auto cd_offset64 = record.read<std::uint64_t>();
  const auto record_end = record_size ? checked_add(record_offset + 12, *record_size) : std::nullopt;
  if (!cd_offset64 || !record_end || *record_size < 44 || *record_end > at - 20) {
    issues.error("ZIP_BAD_ZIP64", "truncated ZIP64 end record", at_offset(record_offset));
    return std::nullopt;
  }
  if (*disk64 != 0 || *cd_disk64 != 0 || *disk_entries64 != *entries64) {
    issues.error("ZIP_MULTI_DISK", "multi-disk archives are not model files",
                 at_offset(record_offset));
    return std::nullopt;
  }
  return end_record{record_offset, *entries64, *cd_size64, *cd_offset64, true};
}

struct central_fields {
  std::uint32_t uncompressed32;
  std::uint32_t compressed32;
  std::uint32_t offset32;
};

// Fills the 0xFFFFFFFF fields from the ZIP64 extra block (id 0x0001), in the order the
// specification gives them.
bool apply_zip64_extra(std::span<const std::uint8_t> extra, const central_fields& f,
                       zip_entry& entry) {
  byte_reader in(extra);
  while (in.remaining() >= 4) {
    const auto id = *in.read<std::uint16_t>();
    const auto size = *in.read<std::uint16_t>();
    auto body = in.read_bytes(size);
    if (!body)
      return false;
    if (id != 0x0001)
      continue;
    byte_reader z(*body);
    if (f.uncompressed32 == 0xFFFFFFFF) {
      auto v = z.read<std::uint64_t>();
      if (!v)
        return false;
      entry.uncompressed_size = *v;
    }
    if (f.compressed32 == 0xFFFFFFFF) {
      auto v = z.read<std::uint64_t>();
      if (!v)
        return false;
      entry.compressed_size = *v;
    }
    if (f.offset32 == 0xFFFFFFFF) {
      auto v = z.read<std::uint64_t>();
      if (!v)
        return false;
      entry.local_header_offset = *v;
    }
    return true;
  }
  return f.uncompressed32 != 0xFFFFFFFF && f.compressed32 != 0xFFFFFFFF &&
         f.offset32 != 0xFFFFFFFF;
}

// torch's writer sets flag bit 3 and puts CRC and sizes after the data (with an optional
// signature, 4- or 8-byte sizes). The descriptor must agree with the central directory.
void check_data_descriptor(std::span<const std::uint8_t> file, const end_record& end,
                           zip_entry& entry, issue_sink& issues) {
  auto at = entry.data_offset + entry.compressed_size;
  if (load_le<std::uint32_t>(file, at) == 0x08074b50)
    at += 4;
  const auto crc = load_le<std::uint32_t>(file, at);
  const auto c32 = load_le<std::uint32_t>(file, at + 4);
  const auto u32 = load_le<std::uint32_t>(file, at + 8);
  const auto c64 = load_le<std::uint64_t>(file, at + 4);
  const auto u64 = load_le<std::uint64_t>(file, at + 12);
  const bool short_form = c32 && u32 && *c32 == entry.compressed_size && *u32 == entry.uncompressed_size;
  const bool long_form = c64 && u64 && *c64 == entry.compressed_size && *u64 == entry.uncompressed_size;
  const auto descriptor_end = at + (short_form ? 12 : 20);
  if (!crc || *crc != entry.crc32 || !(short_form || long_form) || descriptor_end > end.cd_offset) {
    issues.error("ZIP_HEADER_MISMATCH", "data descriptor disagrees with the central directory",
                 at_tensor(entry.name, entry.data_offset + entry.compressed_size));
    return;
  }
  entry.descriptor_size = descriptor_end - (entry.data_offset + entry.compressed_size);
}

void check_entry_header(std::span<const std::uint8_t> file, const end_record& end,
                        zip_entry& entry, issue_sink& issues) {
  const auto where = at_tensor(entry.name, entry.local_header_offset);
  byte_reader in(file, 0);
  if (!in.seek(entry.local_header_offset) || in.read<std::uint32_t>() != local_signature) {
    issues.error("ZIP_BAD_LOCAL_HEADER", "no local header where the directory says", where);
    return;
  }
  in.skip(2); // version needed
  const auto flags = in.read<std::uint16_t>();
  const auto method = in.read<std::uint16_t>();
  in.skip(4); // time, date
  const auto crc = in.read<std::uint32_t>();
  const auto compressed = in.read<std::uint32_t>();
  const auto uncompressed = in.read<std::uint32_t>();
  const auto name_length = in.read<std::uint16_t>();
  const auto extra_length = in.read<std::uint16_t>();
  if (!extra_length) {
    issues.error("ZIP_BAD_LOCAL_HEADER", "truncated local header", where);
    return;
  }
  const auto name = in.read_string(*name_length);
  if (!name || !in.skip(*extra_length)) {
    issues.error("ZIP_BAD_LOCAL_HEADER", "truncated local header", where);
    return;
  }
  if (*name != entry.name)
    issues.error("ZIP_NAME_MISMATCH",
                 "local header names \"" + std::string(*name) + "\" but the directory says \"" +
                   entry.name + "\"",
                 where);
  if (*flags != entry.flags || *method != entry.method)
    issues.error("ZIP_HEADER_MISMATCH", "local header flags or method differ from the directory",
                 where);
  if (!(entry.flags & flag_data_descriptor)) {
    const bool sizes_agree =
      (*compressed == 0xFFFFFFFF || *compressed == entry.compressed_size) &&
      (*uncompressed == 0xFFFFFFFF || *uncompressed == entry.uncompressed_size);
    if (*crc != entry.crc32 || !sizes_agree)
      issues.error("ZIP_HEADER_MISMATCH", "local header CRC or sizes differ from the directory",
                   where);
  }
  entry.data_offset = in.position();
  const auto data_end = checked_add(entry.data_offset, entry.compressed_size);
  if (!data_end || *data_end > end.cd_offset || *data_end > file.size()) {
    issues.error("ZIP_ENTRY_OUT_OF_BOUNDS", "entry data runs past the archive", where);
    return;
  }
  entry.data_valid = true;
  if (entry.flags & flag_data_descriptor)
    check_data_descriptor(file, end, entry, issues);
}

void check_name(const zip_entry& entry, std::unordered_set<std::string_view>& names,
                issue_sink& issues) {
  const auto where = at_tensor(entry.name, entry.local_header_offset);
  if (is_unsafe_zip_name(entry.name))
    issues.error("ZIP_UNSAFE_NAME",
                 "entry name is empty, absolute, holds '..', a backslash or a NUL byte", where);
  if (!names.insert(entry.name).second)
    issues.error("ZIP_DUPLICATE_NAME", "two entries share this name; loaders disagree on which wins",
                 where);
}

void check_method(const zip_entry& entry, const zip_options& options, issue_sink& issues) {
  const auto where = at_tensor(entry.name, entry.local_header_offset);
  if (entry.flags & (flag_encrypted | flag_strong_encryption))
    issues.error("ZIP_ENCRYPTED", "encrypted entry cannot be inspected", where);
  if (entry.method == 0) {
    if (entry.compressed_size != entry.uncompressed_size)
      issues.error("ZIP_SIZE_MISMATCH", "stored entry with different compressed and real sizes",
                   where);
  } else if (entry.method == 8) {
    issues.info("ZIP_COMPRESSED_ENTRY", "deflated entry (torch stores tensor data uncompressed)",
                where);
    const auto ratio_limit = checked_mul(std::max<std::uint64_t>(entry.compressed_size, 1),
                                         options.max_compression_ratio);
    if (!ratio_limit || entry.uncompressed_size > *ratio_limit)
      issues.error("ZIP_BOMB", "compression ratio above " +
                                 std::to_string(options.max_compression_ratio) + ":1",
                   where);
  } else {
    issues.error("ZIP_UNSUPPORTED_COMPRESSION",
                 "compression method " + std::to_string(entry.method) + " is not stored or deflate",
                 where);
  }
}

void check_overlaps(std::vector<zip_entry>& entries, issue_sink& issues) {
  std::vector<const zip_entry*> order;
  for (const auto& e : entries)
    if (e.data_valid)
      order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const zip_entry* a, const zip_entry* b) {
    return a->local_header_offset < b->local_header_offset;
  });
  for (std::size_t i = 1; i < order.size(); ++i) {
    const auto previous_end =
      order[i - 1]->data_offset + order[i - 1]->compressed_size + order[i - 1]->descriptor_size;
    if (order[i]->local_header_offset < previous_end)
      issues.error("ZIP_OVERLAPPING_ENTRIES",
                   "entry overlaps \"" + order[i - 1]->name + "\" (shared bytes, a zip-bomb trick)",
                   at_tensor(order[i]->name, order[i]->local_header_offset));
  }
  if (!order.empty() && order.front()->local_header_offset > 0)
    issues.warning("ZIP_PREPENDED_DATA",
                   std::to_string(order.front()->local_header_offset) +
                     " bytes precede the first entry (a polyglot file)",
                   at_offset(0));
}

} // namespace

const zip_entry* zip_archive::find(std::string_view name) const noexcept {
  // Hashed: an archive of 100,000 entries referenced 100,000 times must not go quadratic.
  const auto found = by_name.find(std::string(name));
  return found == by_name.end() ? nullptr : &entries[found->second];
}

std::span<const std::uint8_t> zip_archive::data(std::span<const std::uint8_t> file,
                                                const zip_entry& entry) const noexcept {
  if (!entry.data_valid)
    return {};
  return file.subspan(entry.data_offset, entry.compressed_size);
}

bool looks_like_zip(std::span<const std::uint8_t> file) noexcept {
  return load_le<std::uint32_t>(file, 0) == local_signature;
}

bool is_unsafe_zip_name(std::string_view name) noexcept {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return true;
  if (name.size() >= 2 && name[1] == ':')
    return true; // drive letter
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto slash = name.find('/', start);
    const auto part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                          : slash - start);
    if (part == "..")
      return true;
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return false;
}

zip_archive read_zip(std::span<const std::uint8_t> file, issue_sink& issues,
                     const zip_options& options) {
  zip_archive archive;
  const auto eocd = find_eocd(file, issues);
  if (!eocd) {
    issues.error("ZIP_NO_END_RECORD", "no end-of-central-directory record in the last 64 KiB",
                 at_offset(file.size()));
    return archive;
  }
  const auto end = read_end(file, *eocd, issues);
  if (!end)
    return archive;
  archive.zip64 = end->zip64;
  archive.central_directory_offset = end->cd_offset;
  archive.central_directory_size = end->cd_size;

  const auto cd_end = checked_add(end->cd_offset, end->cd_size);
  if (!cd_end || *cd_end > end->offset) {
    issues.error("ZIP_BAD_CENTRAL_DIRECTORY", "central directory lies outside the archive",
                 at_offset(end->offset));
    return archive;
  }
  if (*cd_end != end->offset)
    issues.error("ZIP_CENTRAL_DIRECTORY_GAP",
                 "bytes between the central directory and its end record (shifted or "
                 "concatenated archive)",
                 at_offset(*cd_end));
  if (end->entries > options.max_entries) {
    issues.error("ZIP_TOO_MANY_ENTRIES",
                 std::to_string(end->entries) + " entries exceed the limit of " +
                   std::to_string(options.max_entries),
                 at_offset(end->offset));
    return archive;
  }
  if (end->entries > end->cd_size / 46) {
    issues.error("ZIP_BAD_CENTRAL_DIRECTORY", "entry count does not fit the directory size",
                 at_offset(end->offset));
    return archive;
  }

  byte_reader in(file.subspan(end->cd_offset, end->cd_size), end->cd_offset);
  archive.entries.reserve(end->entries);
  std::unordered_set<std::string_view> names;
  std::uint64_t total_uncompressed = 0;
  for (std::uint64_t i = 0; i < end->entries; ++i) {
    const auto record_offset = in.file_offset();
    if (in.read<std::uint32_t>() != central_signature || in.remaining() < 42) {
      issues.error("ZIP_BAD_CENTRAL_DIRECTORY", "bad central directory record",
                   at_offset(record_offset));
      return archive;
    }
    zip_entry entry;
    in.skip(4); // versions
    entry.flags = *in.read<std::uint16_t>();
    entry.method = *in.read<std::uint16_t>();
    in.skip(4); // time, date
    entry.crc32 = *in.read<std::uint32_t>();
    central_fields f{};
    f.compressed32 = *in.read<std::uint32_t>();
    f.uncompressed32 = *in.read<std::uint32_t>();
    const auto name_length = *in.read<std::uint16_t>();
    const auto extra_length = *in.read<std::uint16_t>();
    const auto comment_length = *in.read<std::uint16_t>();
    in.skip(8); // disk start, internal and external attributes
    f.offset32 = *in.read<std::uint32_t>();
    const auto name = in.read_string(name_length);
    const auto extra = in.read_bytes(extra_length);
    if (!name || !extra || !in.skip(comment_length)) {
      issues.error("ZIP_BAD_CENTRAL_DIRECTORY", "central directory record runs past its end",
                   at_offset(record_offset));
      return archive;
    }
    entry.name.assign(*name);
    entry.compressed_size = f.compressed32;
    entry.uncompressed_size = f.uncompressed32;
    entry.local_header_offset = f.offset32;
    if (!apply_zip64_extra(*extra, f, entry)) {
      issues.error("ZIP_BAD_ZIP64", "ZIP64 sizes announced but missing", at_tensor(entry.name));
      return archive;
    }
    archive.by_name.emplace(entry.name, archive.entries.size());
    archive.entries.push_back(std::move(entry));
  }
  if (!in.at_end())
    issues.error("ZIP_BAD_CENTRAL_DIRECTORY",
                 "central directory holds bytes after its last record", at_offset(in.file_offset()));

  for (auto& entry : archive.entries) {
    check_name(entry, names, issues);
    check_method(entry, options, issues);
    check_entry_header(file, *end, entry, issues);
    total_uncompressed = checked_add(total_uncompressed, entry.uncompressed_size).value_or(UINT64_MAX);
    if (entry.data_valid && entry.stored() && entry.compressed_size <= options.verify_crc_up_to) {
      entry.crc_checked = true;
      if (crc32(archive.data(file, entry)) != entry.crc32)
        // torch loads entries with bad CRCs, so this is suspicious rather than fatal.
        issues.warning("ZIP_CRC_MISMATCH", "CRC-32 of the stored bytes does not match",
                       at_tensor(entry.name, entry.data_offset));
    }
  }
  if (total_uncompressed > options.max_total_uncompressed)
    issues.error("ZIP_BOMB", "entries expand to more than " +
                               std::to_string(options.max_total_uncompressed) + " bytes");
  check_overlaps(archive.entries, issues);
  archive.parsed = true;
  return archive;
}

} // namespace modeld::formats
