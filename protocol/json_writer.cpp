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

void write_string(json::string_view text, std::string& out) {
  // Boost's escaping rules, applied to the string alone.
  out += json::serialize(text);
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
