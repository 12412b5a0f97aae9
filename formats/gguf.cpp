#include "formats/gguf.hpp"

#include <array>
#include <cstdio>
#include <unordered_set>

#include "formats/byte_reader.hpp"
#include "formats/checked_math.hpp"
#include "formats/ggml_types.hpp"

namespace modeld::formats {

namespace {

enum value_type : std::uint32_t {
  uint8 = 0, int8, uint16, int16, uint32, int32, float32, boolean, string, array, uint64, int64,
  float64, type_count
};

constexpr std::array<std::string_view, type_count> type_names{
  "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
  "UINT64", "INT64", "FLOAT64"};

// Size of a fixed-size value type; 0 for STRING and ARRAY.
constexpr std::array<std::uint64_t, type_count> type_sizes{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

constexpr std::uint64_t max_string = 1ULL << 30; // llama.cpp's limit
constexpr std::uint64_t max_array = 1ULL << 30;
constexpr std::size_t max_rendered = 64 * 1024;
constexpr std::uint64_t max_name = 64; // GGML_MAX_NAME: names must be shorter
constexpr std::uint32_t max_dims = 4;

// Smallest encodings, used to bound counts by the bytes left: a KV pair needs a key length,
// a type and at least one value byte; a tensor info needs name length, n_dims, type, offset.
constexpr std::uint64_t min_kv_bytes = 8 + 4 + 1;
constexpr std::uint64_t min_tensor_bytes = 8 + 4 + 4 + 8;

class parser {
public:
  parser(std::span<const std::uint8_t> file, issue_sink& issues, gguf_info& info)
    : file_(file), in_(file), issues_(issues), info_(info) {
  }

  void run() {
    in_.skip(4);
    const auto version = in_.read<std::uint32_t>();
    if (!version)
      return truncated("header");
    info_.version = *version;
    if (*version != 2 && *version != 3) {
      const bool swapped = *version == 0x02000000 || *version == 0x03000000;
      issues_.error("GGUF_UNSUPPORTED_VERSION",
                    swapped ? std::string("big-endian GGUF is not supported")
                            : "GGUF version " + std::to_string(*version) + " (only 2 and 3)",
                    at_offset(4));
      return;
    }
    const auto tensors = in_.read<std::uint64_t>();
    const auto kvs = in_.read<std::uint64_t>();
    if (!tensors || !kvs)
      return truncated("header");
    info_.tensor_count = *tensors;
    info_.kv_count = *kvs;
    if (*kvs > in_.remaining() / min_kv_bytes) {
      issues_.error("GGUF_COUNT_TOO_LARGE",
                    std::to_string(*kvs) + " key-value pairs cannot fit in the file", at_offset(16));
      return;
    }
    if (*tensors > in_.remaining() / min_tensor_bytes) {
      issues_.error("GGUF_COUNT_TOO_LARGE",
                    std::to_string(*tensors) + " tensors cannot fit in the file", at_offset(8));
      return;
    }
    std::unordered_set<std::string> keys;
    for (std::uint64_t i = 0; i < *kvs; ++i)
      if (!key_value(keys))
        return;
    std::unordered_set<std::string> names;
    // Reserve only what a plausible model has; a count that is merely "bounded by the file" can
    // still be hundreds of millions in a large hostile file.
    const auto expected = std::min<std::uint64_t>(*tensors, 1 << 16);
    info_.tensors.reserve(expected);
    std::vector<std::uint64_t> offsets;
    offsets.reserve(expected);
    for (std::uint64_t i = 0; i < *tensors; ++i)
      if (!tensor(names, offsets))
        return;
    const auto data = align_up(in_.position(), info_.alignment);
    if (!data || *data > file_.size()) {
      issues_.error("GGUF_TRUNCATED", "file ends before its tensor data section",
                    at_offset(in_.position()));
      return;
    }
    info_.data_offset = *data;
    info_.header_parsed = true;
    place(offsets);
  }

private:
  void truncated(const char* what) {
    issues_.error("GGUF_TRUNCATED", std::string("file ends inside the ") + what,
                  at_offset(in_.position()));
  }

  static std::optional<std::uint64_t> align_up(std::uint64_t value, std::uint64_t alignment) {
    const auto bumped = checked_add(value, alignment - 1);
    if (!bumped)
      return std::nullopt;
    return *bumped / alignment * alignment;
  }

  std::optional<std::string_view> read_string(const char* what) {
    const auto at = in_.position();
    const auto length = in_.read<std::uint64_t>();
    if (!length) {
      truncated(what);
      return std::nullopt;
    }
    if (*length > max_string || *length > in_.remaining()) {
      issues_.error(*length > max_string ? "GGUF_STRING_TOO_LONG" : "GGUF_TRUNCATED",
                    std::string(what) + " of " + std::to_string(*length) + " bytes",
                    at_offset(at));
      return std::nullopt;
    }
    return in_.read_string(*length);
  }

  std::optional<std::string> scalar(std::uint32_t type) {
    char buffer[64];
    switch (type) {
      case uint8: { auto v = in_.read<std::uint8_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case int8: { auto v = in_.read<std::int8_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case uint16: { auto v = in_.read<std::uint16_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case int16: { auto v = in_.read<std::int16_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case uint32: { auto v = in_.read<std::uint32_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case int32: { auto v = in_.read<std::int32_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case uint64: { auto v = in_.read<std::uint64_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case int64: { auto v = in_.read<std::int64_t>(); if (!v) return std::nullopt; return std::to_string(*v); }
      case boolean: { auto v = in_.read<std::uint8_t>(); if (!v) return std::nullopt; return std::string(*v ? "true" : "false"); }
      case float32: {
        auto v = in_.read<float>();
        if (!v) return std::nullopt;
        std::snprintf(buffer, sizeof buffer, "%g", static_cast<double>(*v));
        return std::string(buffer);
      }
      case float64: {
        auto v = in_.read<double>();
        if (!v) return std::nullopt;
        std::snprintf(buffer, sizeof buffer, "%g", *v);
        return std::string(buffer);
      }
      default: return std::nullopt;
    }
  }

  bool key_value(std::unordered_set<std::string>& keys) {
    const auto at = in_.position();
    const auto key = read_string("key");
    if (!key)
      return false;
    if (key->empty()) {
      issues_.error("GGUF_EMPTY_KEY", "metadata key is empty", at_offset(at));
      return false;
    }
    if (!keys.emplace(*key).second) {
      issues_.error("GGUF_DUPLICATE_KEY", "duplicate metadata key \"" + std::string(*key) + "\"",
                    at_offset(at));
      return false;
    }
    const auto type = in_.read<std::uint32_t>();
    if (!type) {
      truncated("metadata");
      return false;
    }
    if (*type >= type_count) {
      issues_.error("GGUF_BAD_VALUE_TYPE",
                    "key \"" + std::string(*key) + "\" has value type " + std::to_string(*type),
                    at_offset(at));
      return false;
    }
    std::string rendered;
    if (*type == value_type::string) {
      const auto value = read_string("string value");
      if (!value)
        return false;
      rendered.assign(value->substr(0, max_rendered));
    } else if (*type == array) {
      if (!array_value(*key, rendered))
        return false;
    } else {
      const auto value = scalar(*type);
      if (!value) {
        truncated("metadata");
        return false;
      }
      rendered = *value;
    }
    if (*key == "general.alignment") {
      const auto value = rendered.empty() ? 0 : std::strtoull(rendered.c_str(), nullptr, 10);
      if (*type != uint32 || value == 0 || (value & (value - 1)) != 0) {
        issues_.error("GGUF_BAD_ALIGNMENT", "general.alignment must be a UINT32 power of two",
                      at_offset(at));
        return false;
      }
      info_.alignment = value;
    }
    info_.metadata.emplace_back(std::string(*key), std::move(rendered));
    return true;
  }

  bool array_value(std::string_view key, std::string& rendered) {
    const auto at = in_.position();
    const auto element = in_.read<std::uint32_t>();
    const auto count = in_.read<std::uint64_t>();
    if (!element || !count) {
      truncated("array header");
      return false;
    }
    if (*element == array) {
      issues_.error("GGUF_NESTED_ARRAY", "key \"" + std::string(key) + "\" holds nested arrays",
                    at_offset(at));
      return false;
    }
    if (*element >= type_count) {
      issues_.error("GGUF_BAD_VALUE_TYPE",
                    "array element type " + std::to_string(*element), at_offset(at));
      return false;
    }
    if (*count > max_array) {
      issues_.error("GGUF_ARRAY_TOO_LARGE", std::to_string(*count) + " elements", at_offset(at));
      return false;
    }
    if (*element == value_type::string) {
      // Each string needs at least its 8-byte length.
      if (*count > in_.remaining() / 8) {
        truncated("string array");
        return false;
      }
      for (std::uint64_t i = 0; i < *count; ++i)
        if (!read_string("array string"))
          return false;
    } else {
      const auto bytes = *count * type_sizes[*element]; // count <= 2^30, size <= 8: no overflow
      if (!in_.skip(bytes)) {
        truncated("array");
        return false;
      }
    }
    char summary[64]; // snprintf sidesteps a GCC 12 -Wrestrict false positive on string +
    std::snprintf(summary, sizeof summary, "[%llu x %s]", static_cast<unsigned long long>(*count),
                  type_names[*element].data());
    rendered = summary;
    return true;
  }

  bool tensor(std::unordered_set<std::string>& names, std::vector<std::uint64_t>& offsets) {
    const auto at = in_.position();
    const auto name = read_string("tensor name");
    if (!name)
      return false;
    tensor_info t;
    t.name.assign(*name);
    const auto where = at_tensor(t.name, at);
    if (name->size() >= max_name) {
      issues_.error("GGUF_NAME_TOO_LONG", "tensor names must be shorter than 64 bytes", where);
      return false;
    }
    if (!names.insert(t.name).second) {
      issues_.error("GGUF_DUPLICATE_TENSOR", "two tensors share this name", where);
      return false;
    }
    const auto n_dims = in_.read<std::uint32_t>();
    if (!n_dims) {
      truncated("tensor info");
      return false;
    }
    if (*n_dims > max_dims) {
      issues_.error("GGUF_TOO_MANY_DIMS", std::to_string(*n_dims) + " dimensions (at most 4)", where);
      return false;
    }
    for (std::uint32_t d = 0; d < *n_dims; ++d) {
      const auto dim = in_.read<std::uint64_t>();
      if (!dim) {
        truncated("tensor info");
        return false;
      }
      if (*dim > static_cast<std::uint64_t>(INT64_MAX)) {
        issues_.error("GGUF_BAD_DIMENSION", "dimension is negative as ggml's int64_t", where);
        return false;
      }
      t.shape.push_back(*dim);
    }
    const auto type_index = in_.read<std::uint32_t>();
    const auto offset = in_.read<std::uint64_t>();
    if (!type_index || !offset) {
      truncated("tensor info");
      return false;
    }
    const auto type = ggml_type(*type_index);
    if (!type) {
      issues_.error("GGUF_BAD_TENSOR_TYPE", "ggml type " + std::to_string(*type_index) +
                                              " does not exist", where);
      return false;
    }
    t.dtype = type->name;
    // ggml works on 4 dimensions; missing ones are 1.
    std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
    for (std::size_t d = 0; d < t.shape.size(); ++d)
      ne[d] = t.shape[d];
    if (ne[0] % type->block_size != 0) {
      issues_.error("GGUF_BAD_BLOCK_ALIGNMENT",
                    "first dimension " + std::to_string(ne[0]) + " is not a multiple of the " +
                      std::string(type->name) + " block size " + std::to_string(type->block_size),
                    where);
      return false;
    }
    const auto count = checked_product(ne);
    const auto rows = checked_product(std::span<const std::uint64_t>(ne).subspan(1));
    const auto row_bytes = checked_mul(ne[0] / type->block_size, type->type_size);
    const auto bytes = rows && row_bytes ? checked_mul(*rows, *row_bytes) : std::nullopt;
    if (!count || *count > static_cast<std::uint64_t>(INT64_MAX) || !bytes ||
        *bytes > static_cast<std::uint64_t>(INT64_MAX)) {
      issues_.error("GGUF_OVERFLOW", "element count or byte size overflows", where);
      return false;
    }
    if (*offset % info_.alignment != 0) {
      issues_.error("GGUF_MISALIGNED_OFFSET",
                    "offset " + std::to_string(*offset) + " is not a multiple of the alignment " +
                      std::to_string(info_.alignment),
                    where);
      return false;
    }
    t.element_count = *count;
    t.byte_size = *bytes;
    t.data_in_file = false; // until place() has checked its bytes
    offsets.push_back(*offset);
    info_.tensors.push_back(std::move(t));
    return true;
  }

  // llama.cpp requires tensors in file order, each at the padded end of the previous one.
  void place(const std::vector<std::uint64_t>& offsets) {
    std::uint64_t expected = 0;
    for (std::size_t i = 0; i < info_.tensors.size(); ++i) {
      auto& t = info_.tensors[i];
      if (offsets[i] != expected) {
        issues_.error("GGUF_BAD_OFFSET",
                      "tensor data at offset " + std::to_string(offsets[i]) + ", expected " +
                        std::to_string(expected) + " (gap or overlap)",
                      at_tensor(t.name));
        return;
      }
      const auto begin = checked_add(info_.data_offset, offsets[i]);
      const auto end = begin ? checked_add(*begin, t.byte_size) : std::nullopt;
      const auto padded = align_up(t.byte_size, info_.alignment);
      if (!end || !padded || *end > file_.size()) {
        issues_.error("GGUF_DATA_OUT_OF_BOUNDS", "tensor data runs past the end of the file",
                      at_tensor(t.name, begin.value_or(0)));
        return;
      }
      t.data_begin = *begin;
      t.data_end = *end;
      t.data_in_file = true;
      const auto next = checked_add(expected, *padded);
      if (!next) {
        issues_.error("GGUF_OVERFLOW", "tensor data offsets overflow", at_tensor(t.name));
        return;
      }
      expected = *next;
    }
  }

  std::span<const std::uint8_t> file_;
  byte_reader in_;
  issue_sink& issues_;
  gguf_info& info_;
};

} // namespace

bool looks_like_gguf(std::span<const std::uint8_t> file) noexcept {
  return file.size() >= 4 && file[0] == 'G' && file[1] == 'G' && file[2] == 'U' && file[3] == 'F';
}

gguf_info parse_gguf(std::span<const std::uint8_t> file, issue_sink& issues) {
  gguf_info info;
  if (!looks_like_gguf(file)) {
    issues.error("GGUF_BAD_MAGIC", "file does not start with GGUF", at_offset(0));
    return info;
  }
  parser(file, issues, info).run();
  return info;
}

} // namespace modeld::formats
