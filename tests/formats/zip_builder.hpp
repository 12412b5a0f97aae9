#pragma once

// Writes zip archives byte by byte, with knobs for every trick the strict reader must catch.

#include <optional>

#include "bytes.hpp"
#include "formats/crc32.hpp"

namespace modeld::formats::test {

struct zip_item {
  std::string name;
  bytes data;
  std::optional<std::string> local_name; // differs from the directory's name when set
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::optional<std::uint32_t> crc;       // override the real CRC
  std::optional<std::uint32_t> uncompressed_size;
  bool data_descriptor = false;           // torch style: flag bit 3, sizes after the data
};

inline zip_item item(std::string name, bytes data) {
  zip_item out;
  out.name = std::move(name);
  out.data = std::move(data);
  return out;
}

struct zip_layout {
  bytes prefix;                         // bytes before the first entry
  bytes between_cd_and_end;             // bytes between directory and end record
  std::optional<std::uint16_t> entry_count;
  std::optional<std::uint32_t> cd_offset_override;
  std::optional<std::uint32_t> local_offset_override_for_last; // alias the last entry's data
  bool zip64 = false;                   // write ZIP64 end record and locator as torch does
  std::string comment;
  bytes trailing;
};

inline bytes make_zip(const std::vector<zip_item>& items, const zip_layout& layout = {}) {
  bytes out = layout.prefix;
  std::vector<std::uint32_t> offsets;
  for (const auto& item : items) {
    offsets.push_back(static_cast<std::uint32_t>(out.size()));
    const auto crc = item.crc.value_or(crc32({item.data.data(), item.data.size()}));
    const auto local_name = item.local_name.value_or(item.name);
    const std::uint16_t flags = item.flags | (item.data_descriptor ? 8 : 0);
    const auto usize = item.uncompressed_size.value_or(static_cast<std::uint32_t>(item.data.size()));
    put<std::uint32_t>(out, 0x04034b50);
    put<std::uint16_t>(out, 20);
    put<std::uint16_t>(out, flags);
    put<std::uint16_t>(out, item.method);
    put<std::uint32_t>(out, 0);
    put<std::uint32_t>(out, item.data_descriptor ? 0 : crc);
    put<std::uint32_t>(out, item.data_descriptor ? 0 : static_cast<std::uint32_t>(item.data.size()));
    put<std::uint32_t>(out, item.data_descriptor ? 0 : usize);
    put<std::uint16_t>(out, static_cast<std::uint16_t>(local_name.size()));
    put<std::uint16_t>(out, 0);
    put_str(out, local_name);
    out.insert(out.end(), item.data.begin(), item.data.end());
    if (item.data_descriptor) {
      put<std::uint32_t>(out, 0x08074b50);
      put<std::uint32_t>(out, crc);
      put<std::uint32_t>(out, static_cast<std::uint32_t>(item.data.size()));
      put<std::uint32_t>(out, usize);
    }
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const auto crc = item.crc.value_or(crc32({item.data.data(), item.data.size()}));
    const std::uint16_t flags = item.flags | (item.data_descriptor ? 8 : 0);
    auto offset = offsets[i];
    if (i + 1 == items.size() && layout.local_offset_override_for_last)
      offset = *layout.local_offset_override_for_last;
    put<std::uint32_t>(out, 0x02014b50);
    put<std::uint16_t>(out, 20);
    put<std::uint16_t>(out, 20);
    put<std::uint16_t>(out, flags);
    put<std::uint16_t>(out, item.method);
    put<std::uint32_t>(out, 0);
    put<std::uint32_t>(out, crc);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(item.data.size()));
    put<std::uint32_t>(out, item.uncompressed_size.value_or(static_cast<std::uint32_t>(item.data.size())));
    put<std::uint16_t>(out, static_cast<std::uint16_t>(item.name.size()));
    put<std::uint16_t>(out, 0);
    put<std::uint16_t>(out, 0);
    put<std::uint16_t>(out, 0);
    put<std::uint16_t>(out, 0);
    put<std::uint32_t>(out, 0);
    put<std::uint32_t>(out, offset);
    put_str(out, item.name);
  }
  const auto cd_size = static_cast<std::uint32_t>(out.size() - cd_offset);
  out.insert(out.end(), layout.between_cd_and_end.begin(), layout.between_cd_and_end.end());
  const auto count = layout.entry_count.value_or(static_cast<std::uint16_t>(items.size()));
  if (layout.zip64) {
    const auto record = out.size();
    put<std::uint32_t>(out, 0x06064b50);
    put<std::uint64_t>(out, 44);
    put<std::uint16_t>(out, 45);
    put<std::uint16_t>(out, 45);
    put<std::uint32_t>(out, 0);
    put<std::uint32_t>(out, 0);
    put<std::uint64_t>(out, count);
    put<std::uint64_t>(out, count);
    put<std::uint64_t>(out, cd_size);
    put<std::uint64_t>(out, layout.cd_offset_override.value_or(cd_offset));
    put<std::uint32_t>(out, 0x07064b50);
    put<std::uint32_t>(out, 0);
    put<std::uint64_t>(out, record);
    put<std::uint32_t>(out, 1);
  }
  put<std::uint32_t>(out, 0x06054b50);
  put<std::uint16_t>(out, 0);
  put<std::uint16_t>(out, 0);
  put<std::uint16_t>(out, layout.zip64 ? 0xFFFF : count);
  put<std::uint16_t>(out, layout.zip64 ? 0xFFFF : count);
  put<std::uint32_t>(out, layout.zip64 ? 0xFFFFFFFF : cd_size);
  put<std::uint32_t>(out, layout.zip64 ? 0xFFFFFFFF : layout.cd_offset_override.value_or(cd_offset));
  put<std::uint16_t>(out, static_cast<std::uint16_t>(layout.comment.size()));
  put_str(out, layout.comment);
  out.insert(out.end(), layout.trailing.begin(), layout.trailing.end());
  return out;
}

} // namespace modeld::formats::test
