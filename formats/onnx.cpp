#include "formats/onnx.hpp"

#include <array>

#include "formats/checked_math.hpp"
#include "formats/protobuf_reader.hpp"

namespace modeld::formats {

namespace {

using field = protobuf_reader::field;

struct onnx_dtype {
  std::string_view name;
  unsigned bits; // 0: variable-size (STRING)
};

// TensorProto.DataType, indexed by its value.
constexpr std::array<onnx_dtype, 24> onnx_dtypes{{
  {"", 0},        {"F32", 32},         {"U8", 8},   {"I8", 8},           {"U16", 16},
  {"I16", 16},    {"I32", 32},         {"I64", 64}, {"STRING", 0},       {"BOOL", 8},
  {"F16", 16},    {"F64", 64},         {"U32", 32}, {"U64", 64},         {"C64", 64},
  {"C128", 128},  {"BF16", 16},        {"F8_E4M3", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2", 8},
  {"F8_E5M2FNUZ", 8}, {"U4", 4},       {"I4", 4},   {"F4", 4},
}};

constexpr std::size_t max_depth = 32; // graphs nest through If/Loop attributes

std::string text(const field& f) {
  return {reinterpret_cast<const char*>(f.bytes.data()), f.bytes.size()};
}

class walker {
public:
  walker(issue_sink& issues, onnx_info& info) : issues_(issues), info_(info) {}

  bool model(std::span<const std::uint8_t> bytes) {
    protobuf_reader in(bytes, 0);
    bool has_graph = false;
    bool has_ir = false;
    while (!in.at_end()) {
      const auto f = in.next();
      if (!f)
        return malformed(in.offset(), "ModelProto");
      switch (f->number) {
        case 1: if (!expect(*f, protobuf_reader::varint, "ir_version")) return false;
                info_.ir_version = static_cast<std::int64_t>(f->value); has_ir = true; break;
        case 2: if (!expect(*f, protobuf_reader::length_delimited, "producer_name")) return false;
                info_.producer_name = text(*f); break;
        case 3: if (!expect(*f, protobuf_reader::length_delimited, "producer_version")) return false;
                info_.producer_version = text(*f); break;
        case 4: if (!expect(*f, protobuf_reader::length_delimited, "domain")) return false;
                info_.domain = text(*f); break;
        case 5: if (!expect(*f, protobuf_reader::varint, "model_version")) return false;
                info_.model_version = static_cast<std::int64_t>(f->value); break;
        case 7:
          if (!expect(*f, protobuf_reader::length_delimited, "graph") || !graph(*f, 1, true))
            return false;
          has_graph = true;
          break;
        case 8: if (!expect(*f, protobuf_reader::length_delimited, "opset_import") || !opset(*f)) return false; break;
        case 14: if (!expect(*f, protobuf_reader::length_delimited, "metadata_props") || !property(*f)) return false; break;
        default: break; // unknown fields are legal protobuf
      }
    }
    if (!has_ir)
      issues_.warning("ONNX_MISSING_IR_VERSION", "ModelProto has no ir_version");
    if (info_.opset_import.empty())
      issues_.warning("ONNX_MISSING_OPSET", "ModelProto imports no operator set");
    if (!has_graph) {
      issues_.error("ONNX_MISSING_GRAPH", "ModelProto has no graph");
      return false;
    }
    return true;
  }

private:
  bool malformed(std::uint64_t offset, const char* where) {
    issues_.error("ONNX_MALFORMED", std::string("malformed protobuf in ") + where + " (bad varint, "
                                    "length past its message, or a group)",
                  at_offset(offset));
    return false;
  }

  bool expect(const field& f, protobuf_reader::wire type, const char* name) {
    if (f.type == type)
      return true;
    issues_.error("ONNX_MALFORMED", std::string(name) + " has the wrong wire type",
                  at_offset(f.offset));
    return false;
  }

  bool opset(const field& f) {
    protobuf_reader in(f.bytes, f.offset);
    std::pair<std::string, std::int64_t> entry;
    while (!in.at_end()) {
      const auto g = in.next();
      if (!g)
        return malformed(in.offset(), "OperatorSetIdProto");
      if (g->number == 1 && g->type == protobuf_reader::length_delimited)
        entry.first = text(*g);
      else if (g->number == 2 && g->type == protobuf_reader::varint)
        entry.second = static_cast<std::int64_t>(g->value);
    }
    info_.opset_import.push_back(std::move(entry));
    return true;
  }

  bool property(const field& f) {
    protobuf_reader in(f.bytes, f.offset);
    std::pair<std::string, std::string> entry;
    while (!in.at_end()) {
      const auto g = in.next();
      if (!g)
        return malformed(in.offset(), "StringStringEntryProto");
      if (g->number == 1 && g->type == protobuf_reader::length_delimited)
        entry.first = text(*g);
      else if (g->number == 2 && g->type == protobuf_reader::length_delimited)
        entry.second = text(*g);
    }
    info_.metadata.push_back(std::move(entry));
    return true;
  }

  bool graph(const field& f, std::size_t depth, bool main) {
    if (depth > max_depth) {
      issues_.error("ONNX_NESTING_TOO_DEEP", "subgraphs nest deeper than " +
                                               std::to_string(max_depth), at_offset(f.offset));
      return false;
    }
    protobuf_reader in(f.bytes, f.offset);
    while (!in.at_end()) {
      const auto g = in.next();
      if (!g)
        return malformed(in.offset(), "GraphProto");
      const bool message = g->type == protobuf_reader::length_delimited;
      switch (g->number) {
        case 1:
          if (!message || !node(*g, depth, main))
            return message ? false : malformed(g->offset, "NodeProto");
          break;
        case 2: if (main && message) info_.graph_name = text(*g); break;
        case 5:
          if (!message || !tensor(*g, main))
            return message ? false : malformed(g->offset, "TensorProto");
          break;
        case 11: if (main) ++info_.input_count; break;
        case 12: if (main) ++info_.output_count; break;
        default: break;
      }
    }
    return true;
  }

  bool node(const field& f, std::size_t depth, bool main) {
    protobuf_reader in(f.bytes, f.offset);
    std::string op_type;
    while (!in.at_end()) {
      const auto g = in.next();
      if (!g)
        return malformed(in.offset(), "NodeProto");
      if (g->number == 4 && g->type == protobuf_reader::length_delimited)
        op_type = text(*g);
      else if (g->number == 5 && g->type == protobuf_reader::length_delimited && !attribute(*g, depth))
        return false;
    }
    if (main) {
      ++info_.node_count;
      ++info_.op_types[op_type];
    }
    return true;
  }

  // Attributes may carry subgraphs (g = 6, graphs = 11) and tensors (t = 5, tensors = 10).
  bool attribute(const field& f, std::size_t depth) {
    protobuf_reader in(f.bytes, f.offset);
    while (!in.at_end()) {
      const auto g = in.next();
      if (!g)
        return malformed(in.offset(), "AttributeProto");
      if (g->type != protobuf_reader::length_delimited)
        continue;
      if ((g->number == 6 || g->number == 11) && !graph(*g, depth + 1, false))
        return false;
      if ((g->number == 5 || g->number == 10) && !tensor(*g, false))
        return false;
    }
    return true;
  }

  bool tensor(const field& f, bool record) {
    protobuf_reader in(f.bytes, f.offset);
    tensor_info t;
    std::uint64_t data_type = 0;
    std::optional<field> raw;
    std::uint64_t typed_count = 0;
    bool has_typed = false;
    bool external = false;
    bool bad_dim = false;
    std::string location;
    while (!in.at_end()) {
      const auto g = in.next();
      if (!g)
        return malformed(in.offset(), "TensorProto");
      switch (g->number) {
        case 1: // dims, packed or not
          if (g->type == protobuf_reader::varint) {
            bad_dim = bad_dim || static_cast<std::int64_t>(g->value) < 0;
            t.shape.push_back(g->value);
          } else if (g->type == protobuf_reader::length_delimited) {
            protobuf_reader packed(g->bytes, g->offset);
            while (!packed.at_end()) {
              const auto v = packed.read_varint();
              if (!v)
                return malformed(packed.offset(), "TensorProto.dims");
              bad_dim = bad_dim || static_cast<std::int64_t>(*v) < 0;
              t.shape.push_back(*v);
            }
          }
          break;
        case 2: if (g->type == protobuf_reader::varint) data_type = g->value; break;
        case 8: if (g->type == protobuf_reader::length_delimited) t.name = text(*g); break;
        case 9: if (g->type == protobuf_reader::length_delimited) raw = *g; break;
        case 4: case 5: case 7: case 10: case 11: { // float, int32, int64, double, uint64 data
          has_typed = true;
          if (g->type == protobuf_reader::length_delimited) {
            std::uint64_t n = 0;
            if (g->number == 4)
              n = g->bytes.size() / 4;
            else if (g->number == 10)
              n = g->bytes.size() / 8;
            else if (!protobuf_reader::count_packed_varints(g->bytes, n))
              return malformed(g->offset, "TensorProto packed data");
            typed_count += n;
          } else {
            ++typed_count;
          }
          break;
        }
        case 6: has_typed = true; ++typed_count; break; // string_data
        case 13: {
          external = true;
          if (g->type != protobuf_reader::length_delimited)
            break;
          protobuf_reader entry(g->bytes, g->offset);
          std::string key;
          std::string value;
          while (!entry.at_end()) {
            const auto e = entry.next();
            if (!e)
              return malformed(entry.offset(), "external_data");
            if (e->number == 1 && e->type == protobuf_reader::length_delimited) key = text(*e);
            if (e->number == 2 && e->type == protobuf_reader::length_delimited) value = text(*e);
          }
          if (key == "location")
            location = value;
          break;
        }
        case 14: if (g->type == protobuf_reader::varint && g->value == 1) external = true; break;
        default: break;
      }
    }
    if (!record)
      return true;
    check_tensor(t, data_type, raw, has_typed, typed_count, external, bad_dim, location);
    info_.initializers.push_back(std::move(t));
    return true;
  }

  void check_tensor(tensor_info& t, std::uint64_t data_type, const std::optional<field>& raw,
                    bool has_typed, std::uint64_t typed_count, bool external, bool bad_dim,
                    const std::string& location) {
    const auto where = at_tensor(t.name);
    t.data_in_file = false;
    if (bad_dim) {
      issues_.error("ONNX_BAD_DIMENSION", "initializer has a negative dimension", where);
      return;
    }
    if (data_type == 0 || data_type >= onnx_dtypes.size()) {
      issues_.error("ONNX_UNKNOWN_DATA_TYPE", "data_type " + std::to_string(data_type), where);
      return;
    }
    const auto& dtype = onnx_dtypes[data_type];
    t.dtype = dtype.name;
    const auto count = checked_product(t.shape);
    if (!count) {
      issues_.error("ONNX_OVERFLOW", "element count overflows", where);
      return;
    }
    t.element_count = *count;
    if (dtype.bits != 0) {
      const auto bits = checked_mul(*count, dtype.bits);
      if (!bits) {
        issues_.error("ONNX_OVERFLOW", "byte size overflows", where);
        return;
      }
      t.byte_size = (*bits + 7) / 8;
    }
    if (external) {
      issues_.warning("ONNX_EXTERNAL_DATA", "initializer data lives in external file \"" +
                                              location + "\"", where);
      if (!location.empty() && (location.front() == '/' || location.find("..") != std::string::npos ||
                                location.find('\\') != std::string::npos))
        issues_.error("ONNX_UNSAFE_EXTERNAL_PATH",
                      "external data path leaves the model's folder: " + location, where);
      return;
    }
    if (raw) {
      if (dtype.bits != 0 && raw->bytes.size() != t.byte_size) {
        issues_.error("ONNX_INITIALIZER_SIZE_MISMATCH",
                      "raw_data holds " + std::to_string(raw->bytes.size()) + " bytes, dims x type "
                      "need " + std::to_string(t.byte_size),
                      where);
        return;
      }
      t.data_begin = raw->offset;
      t.data_end = raw->offset + raw->bytes.size();
      t.data_in_file = true;
      return;
    }
    // Typed fields hold one entry per element (complex types two).
    const auto per_element = (data_type == 14 || data_type == 15) ? 2u : 1u;
    const auto expected = checked_mul(*count, per_element);
    if ((has_typed || *count > 0) && (!expected || typed_count != *expected) && dtype.bits >= 8)
      issues_.error("ONNX_INITIALIZER_SIZE_MISMATCH",
                    "initializer holds " + std::to_string(typed_count) + " values for " +
                      std::to_string(*count) + " elements",
                    where);
  }

  issue_sink& issues_;
  onnx_info& info_;
};

} // namespace

bool looks_like_onnx(std::span<const std::uint8_t> file) noexcept {
  // Field 1 (ir_version), varint, value 1..31: 0x08 then a small byte.
  if (file.size() < 2 || file[0] != 0x08 || file[1] == 0 || file[1] > 31)
    return false;
  protobuf_reader in(file.first(std::min<std::size_t>(file.size(), 1 << 20)), 0);
  // Walk the first top-level fields; a model's header fields are small, the graph may be huge.
  for (int i = 0; i < 8 && !in.at_end(); ++i) {
    const auto f = in.next();
    if (!f)
      return file.size() > (1u << 20) && i > 1; // the graph may extend past the probed window
    if (f->number > 30)
      return false;
  }
  return true;
}

onnx_info parse_onnx(std::span<const std::uint8_t> file, issue_sink& issues) {
  onnx_info info;
  walker w(issues, info);
  info.parsed = w.model(file);
  return info;
}

} // namespace modeld::formats
