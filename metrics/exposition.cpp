#include "metrics/exposition.hpp"

#include <charconv>
#include <cmath>

namespace modeld::metrics {
namespace {

std::string_view type_name(metric_type type) {
  switch (type) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

// HELP text: backslash and line feed are escaped (quotes are not, unlike label values).
void append_help(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_label_value(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

// Integers as integers (byte counts and request counts read exactly); other values in the
// shortest form that reads back to the same double, in plain notation from 1e-4 on and in
// exponent notation below (as Go's %g, which the Prometheus clients use: le="0.0001" is
// spelled the same as theirs); the format's spellings of the non-finite ones.
void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[64];
  std::to_chars_result done;
  const double magnitude = std::fabs(value);
  constexpr double exact_integers = 9007199254740992.0; // 2^53
  if (value == std::trunc(value) && magnitude < exact_integers)
    done = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(value));
  else
    done = std::to_chars(buffer, buffer + sizeof buffer, value,
                         magnitude >= 1e-4 && magnitude < 1e21 ? std::chars_format::fixed
                                                               : std::chars_format::scientific);
  out.append(buffer, done.ptr);
}

void append_labels(std::string& out, const std::vector<label>& labels, const label* extra = nullptr) {
  if (labels.empty() && extra == nullptr)
    return;
  out += '{';
  bool first = true;
  auto one = [&](const label& l) {
    if (!first)
      out += ',';
    first = false;
    out += l.name;
    out += "=\"";
    append_label_value(out, l.value);
    out += '"';
  };
  for (auto& l : labels)
    one(l);
  if (extra != nullptr)
    one(*extra);
  out += '}';
}

void append_line(std::string& out, std::string_view name, std::string_view suffix, const std::vector<label>& labels,
                 double value, const label* extra = nullptr) {
  out += name;
  out += suffix;
  append_labels(out, labels, extra);
  out += ' ';
  append_value(out, value);
  out += '\n';
}

void append_histogram(std::string& out, const family& f, const histogram_series& s) {
  label le{"le", {}};
  for (std::size_t i = 0; i < s.data.cumulative.size(); ++i) {
    le.value.clear();
    append_value(le.value, i < s.data.upper_bounds.size() ? s.data.upper_bounds[i] : HUGE_VAL);
    append_line(out, f.name, "_bucket", s.labels, static_cast<double>(s.data.cumulative[i]), &le);
  }
  append_line(out, f.name, "_sum", s.labels, s.data.sum_seconds);
  append_line(out, f.name, "_count", s.labels, static_cast<double>(s.data.count));
}

} // namespace

std::string render(const std::vector<family>& families) {
  std::string out;
  for (auto& f : families) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    append_help(out, f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (auto& s : f.samples)
      append_line(out, f.name, {}, s.labels, s.value);
    for (auto& s : f.series)
      append_histogram(out, f, s);
  }
  return out;
}

} // namespace modeld::metrics
