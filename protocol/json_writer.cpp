#include "protocol/json_writer.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cmath>

namespace modeld::protocol {
namespace json = boost::json;
namespace {

template <class Number>
void write_number(Number number, std::string& out) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
  out.append(buffer, ec == std::errc{} ? end : buffer);
}

// Boost.JSON's escaping, written straight into `out` (json::serialize would make a string per
// string): '"' and '\\' escaped, control characters as \b \t \n \f \r or \u00XX, every other
// byte as it is.
void write_string(json::string_view text, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t clean = 0; // bytes from here on that need no escape are appended in one piece
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(text.data() + clean, i - clean);
    clean = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\b': out.push_back('b'); break;
      case '\t': out.push_back('t'); break;
      case '\n': out.push_back('n'); break;
      case '\f': out.push_back('f'); break;
      case '\r': out.push_back('r'); break;
      default:
        out += "u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
    }
  }
  out.append(text.data() + clean, text.size() - clean);
  out.push_back('"');
}

} // namespace

void write_json(const json::value& value, std::string& out) {
  switch (value.kind()) {
    case json::kind::null: out += "null"; return;
    case json::kind::bool_: out += value.get_bool() ? "true" : "false"; return;
    case json::kind::int64: write_number(value.get_int64(), out); return;
    case json::kind::uint64: write_number(value.get_uint64(), out); return;
    case json::kind::double_:
      if (std::isfinite(value.get_double()))
        write_number(value.get_double(), out);
      else
        out += "null"; // JSON has no NaN or infinity
      return;
    case json::kind::string: write_string(value.get_string(), out); return;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (auto& element : value.get_array()) {
        if (!first)
          out.push_back(',');
        first = false;
        write_json(element, out);
      }
      out.push_back(']');
      return;
    }
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (auto& member : value.get_object()) {
        if (!first)
          out.push_back(',');
        first = false;
        write_string(member.key(), out);
        out.push_back(':');
        write_json(member.value(), out);
      }
      out.push_back('}');
      return;
    }
  }
}

json::array string_array(const std::vector<std::string>& values) {
  json::array out;
  out.reserve(values.size());
  for (auto& v : values)
    out.emplace_back(v);
  return out;
}

std::string to_json(const json::value& value) {
  std::string out;
  out.reserve(256);
  write_json(value, out);
  return out;
}

} // namespace modeld::protocol
