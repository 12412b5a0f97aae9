#include "formats/safetensors.hpp"

#include <algorithm>
#include <numeric>

#include "formats/byte_reader.hpp"
#include "formats/checked_math.hpp"
#include "formats/dtype.hpp"
#include "formats/json.hpp"

namespace modeld::formats {

namespace {

std::string_view json_error_code(json_error_kind kind) {
  switch (kind) {
    case json_error_kind::invalid_utf8: return "SAFETENSORS_HEADER_NOT_UTF8";
    case json_error_kind::duplicate_key: return "SAFETENSORS_DUPLICATE_KEY";
    case json_error_kind::too_deep: return "SAFETENSORS_HEADER_TOO_DEEP";
    case json_error_kind::syntax: break;
  }
  return "SAFETENSORS_INVALID_JSON";
}

std::optional<std::vector<std::uint64_t>> unsigned_array(const json_value* v) {
  if (v == nullptr || v->type != json_value::kind::array)
    return std::nullopt;
  std::vector<std::uint64_t> out;
  out.reserve(v->items.size());
  for (const auto& item : v->items) {
    if (item.type != json_value::kind::number || !item.is_unsigned)
      return std::nullopt;
    out.push_back(item.unsigned_value);
  }
  return out;
}

void read_metadata(const json_value& value, safetensors_info& info, issue_sink& issues) {
  if (value.type == json_value::kind::null)
    return; // the reference models it as Option<HashMap>
  if (value.type != json_value::kind::object) {
    issues.error("SAFETENSORS_INVALID_METADATA", "__metadata__ must be an object of strings");
    return;
  }
  for (const auto& member : value.members) {
    if (member.value.type != json_value::kind::string) {
      issues.error("SAFETENSORS_INVALID_METADATA",
                   "__metadata__ value for \"" + member.key + "\" is not a string");
      continue;
    }
    info.metadata.emplace_back(member.key, member.value.text);
  }
}

struct offsets {
  std::uint64_t begin;
  std::uint64_t end;
  std::size_t index; // into info.tensors
};

// Reads one tensor entry; returns false (with an issue) when its shape is wrong.
bool read_tensor(const json_member& member, tensor_info& out, offsets& range, issue_sink& issues) {
  const auto& name = member.key;
  const auto& entry = member.value;
  if (entry.type != json_value::kind::object) {
    issues.error("SAFETENSORS_INVALID_TENSOR_ENTRY", "tensor entry is not an object",
                 at_tensor(name));
    return false;
  }
  const auto* dtype = entry.find("dtype");
  const auto shape = unsigned_array(entry.find("shape"));
  const auto data_offsets = unsigned_array(entry.find("data_offsets"));
  if (dtype == nullptr || dtype->type != json_value::kind::string || !shape || !data_offsets ||
      data_offsets->size() != 2) {
    issues.error("SAFETENSORS_INVALID_TENSOR_ENTRY",
                 "tensor entry needs dtype (string), shape (array of non-negative integers) and "
                 "data_offsets ([begin, end])",
                 at_tensor(name));
    return false;
  }
  for (const auto& field : entry.members)
    if (field.key != "dtype" && field.key != "shape" && field.key != "data_offsets")
      issues.warning("SAFETENSORS_UNKNOWN_FIELD", "unknown field \"" + field.key + "\"",
                     at_tensor(name));
  out.name = name;
  out.dtype = dtype->text;
  out.shape = *shape;
  range.begin = (*data_offsets)[0];
  range.end = (*data_offsets)[1];
  if (!safetensors_dtype_bits(out.dtype)) {
    issues.error("SAFETENSORS_UNKNOWN_DTYPE", "unknown dtype \"" + out.dtype + "\"",
                 at_tensor(name));
    return false;
  }
  return true;
}

// The reference's validate(): sort by offsets, require the tensors to tile the data buffer
// exactly, and check each slice against shape x dtype with checked arithmetic.
std::uint64_t check_layout(std::vector<offsets>& ranges, safetensors_info& info,
                           issue_sink& issues) {
  std::sort(ranges.begin(), ranges.end(), [](const offsets& a, const offsets& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected_begin = 0;
  for (const auto& range : ranges) {
    auto& tensor = info.tensors[range.index];
    const auto where = at_tensor(tensor.name);
    if (range.begin != expected_begin || range.end < range.begin) {
      const char* why = range.end < range.begin        ? "ends before it begins"
                        : range.begin < expected_begin ? "overlaps the previous tensor"
                                                       : "leaves a gap after the previous tensor";
      issues.error("SAFETENSORS_INVALID_OFFSET",
                   "data_offsets [" + std::to_string(range.begin) + ", " +
                       std::to_string(range.end) + "] " + why,
                   where);
    }
    expected_begin = std::max(range.end, expected_begin);
    const auto count = checked_product(tensor.shape);
    const auto bits = count ? checked_mul(*count, *safetensors_dtype_bits(tensor.dtype))
                            : std::nullopt;
    if (!bits) {
      issues.error("SAFETENSORS_OVERFLOW", "element count x dtype bits overflows 64 bits", where);
      continue;
    }
    tensor.element_count = *count;
    if (*bits % 8 != 0) {
      issues.error("SAFETENSORS_MISALIGNED_SLICE",
                   "tensor of " + std::to_string(*bits) + " bits is not a whole number of bytes",
                   where);
      continue;
    }
    tensor.byte_size = *bits / 8;
    if (range.end >= range.begin && range.end - range.begin != tensor.byte_size)
      issues.error("SAFETENSORS_TENSOR_SIZE_MISMATCH",
                   "data_offsets span " + std::to_string(range.end - range.begin) +
                       " bytes but shape x dtype needs " + std::to_string(tensor.byte_size),
                   where);
  }
  return expected_begin;
}

} // namespace

bool looks_like_safetensors(std::span<const std::uint8_t> file) noexcept {
  const auto length = load_le<std::uint64_t>(file, 0);
  if (!length || *length < 2 || *length > safetensors_max_header)
    return false;
  // The JSON object may be preceded by whitespace the reference tolerates.
  for (std::uint64_t i = 8; i < file.size() && i < 8 + *length; ++i) {
    const auto c = file[i];
    if (c == '{')
      return true;
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      return false;
  }
  return false;
}

safetensors_info parse_safetensors(std::span<const std::uint8_t> file, issue_sink& issues) {
  safetensors_info info;
  const auto length = load_le<std::uint64_t>(file, 0);
  if (!length) {
    issues.error("SAFETENSORS_HEADER_TOO_SMALL", "file is shorter than the 8-byte header length",
                 at_offset(0));
    return info;
  }
  info.header_length = *length;
  if (*length > safetensors_max_header) {
    issues.error("SAFETENSORS_HEADER_TOO_LARGE",
                 "header length " + std::to_string(*length) + " exceeds 100,000,000",
                 at_offset(0));
    return info;
  }
  if (*length > file.size() - 8) {
    issues.error("SAFETENSORS_INVALID_HEADER_LENGTH",
                 "header length " + std::to_string(*length) + " runs past the end of the file",
                 at_offset(0));
    return info;
  }
  info.data_start = 8 + *length;
  const auto header = as_chars(file.subspan(8, *length));

  json_error error;
  auto root = parse_json(header, error);
  if (!root) {
    issues.error(json_error_code(error.kind), "header: " + error.message,
                 at_offset(8 + error.offset));
    return info;
  }
  if (root->type != json_value::kind::object) {
    issues.error("SAFETENSORS_HEADER_NOT_OBJECT", "header JSON is not an object", at_offset(8));
    return info;
  }
  if (header.empty() || header.front() != '{')
    issues.info("SAFETENSORS_HEADER_LEADING_SPACE",
                "header does not start with '{' as the format description asks", at_offset(8));

  std::vector<offsets> ranges;
  ranges.reserve(root->members.size());
  info.tensors.reserve(root->members.size());
  bool entries_ok = true;
  for (const auto& member : root->members) {
    if (member.key == "__metadata__") {
      read_metadata(member.value, info, issues);
      continue;
    }
    tensor_info tensor;
    offsets range{};
    if (!read_tensor(member, tensor, range, issues)) {
      entries_ok = false;
      continue;
    }
    range.index = info.tensors.size();
    ranges.push_back(range);
    info.tensors.push_back(std::move(tensor));
  }
  info.header_parsed = entries_ok;

  const auto buffer_end = check_layout(ranges, info, issues);
  for (const auto& range : ranges) {
    auto& tensor = info.tensors[range.index];
    // Saturate so absurd offsets stay absurd instead of wrapping into plausible ones.
    tensor.data_begin = checked_add(range.begin, info.data_start).value_or(UINT64_MAX);
    tensor.data_end = checked_add(range.end, info.data_start).value_or(UINT64_MAX);
    tensor.data_in_file = tensor.data_end <= file.size() && tensor.data_begin <= tensor.data_end;
  }
  if (!entries_ok)
    return info; // the buffer checks would only echo the broken entries
  const auto expected_size = checked_add(buffer_end, info.data_start);
  if (!expected_size || *expected_size > file.size()) {
    issues.error("SAFETENSORS_BUFFER_INCOMPLETE",
                 "tensor data needs " + std::to_string(buffer_end) + " bytes but the file holds " +
                     std::to_string(file.size() - info.data_start),
                 at_offset(file.size()));
  } else if (*expected_size < file.size()) {
    issues.error("SAFETENSORS_TRAILING_DATA",
                 std::to_string(file.size() - *expected_size) +
                     " bytes follow the last tensor (polyglot or appended payload)",
                 at_offset(*expected_size));
  }
  return info;
}

} // namespace modeld::formats
