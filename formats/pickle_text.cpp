#include "formats/pickle_text.hpp"
#include "formats/utf8.hpp"

namespace modeld::formats {

namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

} // namespace

std::optional<std::string> decode_string_opcode(std::string_view line) {
  if (line.size() < 2 || line.front() != line.back() || (line.front() != '\'' && line.front() != '"'))
    return std::nullopt;
  const auto body = line.substr(1, line.size() - 2);
  std::string out;
  out.reserve(body.size());
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\' || i + 1 == body.size()) {
      out.push_back(c);
      continue;
    }
    const char e = body[++i];
    switch (e) {
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case '\n': break; // line continuation
      case 'x': {
        if (i + 2 >= body.size())
          return std::nullopt; // CPython: invalid \x escape
        const int hi = hex_digit(body[i + 1]);
        const int lo = hex_digit(body[i + 2]);
        if (hi < 0 || lo < 0)
          return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int value = e - '0';
          for (int n = 0; n < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++n)
            value = value * 8 + (body[++i] - '0');
          out.push_back(static_cast<char>(value & 0xFF));
        } else {
          out.push_back('\\'); // unknown escapes are kept verbatim
          out.push_back(e);
        }
    }
  }
  return out;
}

std::optional<std::string> decode_raw_unicode_escape(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size();) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == '\\') {
      // Only an odd run of backslashes escapes the following u/U.
      std::size_t run = 0;
      while (i + run < line.size() && line[i + run] == '\\')
        ++run;
      const std::size_t after = i + run;
      const bool escape = run % 2 == 1 && after < line.size() &&
                          (line[after] == 'u' || line[after] == 'U');
      for (std::size_t k = 0; k < (escape ? run - 1 : run); ++k)
        out.push_back('\\');
      i = after;
      if (!escape)
        continue;
      const std::size_t digits = line[after] == 'u' ? 4 : 8;
      if (after + digits >= line.size())
        return std::nullopt; // truncated escape: CPython raises
      std::uint32_t cp = 0;
      for (std::size_t k = 1; k <= digits; ++k) {
        const int d = hex_digit(line[after + k]);
        if (d < 0)
          return std::nullopt;
        cp = cp * 16 + static_cast<std::uint32_t>(d);
      }
      if (cp > 0x10FFFF)
        return std::nullopt;
      append_utf8(out, cp);
      i = after + digits + 1;
      continue;
    }
    append_utf8(out, c); // latin-1
    ++i;
  }
  return out;
}

std::optional<std::int64_t> parse_decimal_int(std::string_view line, bool allow_long_suffix) {
  while (!line.empty() && is_space(line.front()))
    line.remove_prefix(1);
  while (!line.empty() && is_space(line.back()))
    line.remove_suffix(1);
  if (allow_long_suffix && !line.empty() && line.back() == 'L')
    line.remove_suffix(1);
  bool negative = false;
  if (!line.empty() && (line.front() == '+' || line.front() == '-')) {
    negative = line.front() == '-';
    line.remove_prefix(1);
  }
  if (line.empty() || line.front() == '_' || line.back() == '_')
    return std::nullopt;
  std::uint64_t value = 0;
  char previous = 0;
  for (char c : line) {
    if (c == '_') {
      if (previous == '_')
        return std::nullopt;
    } else if (c >= '0' && c <= '9') {
      const auto digit = static_cast<std::uint64_t>(c - '0');
      if (value > (static_cast<std::uint64_t>(INT64_MAX) + 1 - digit) / 10)
        return std::nullopt;
      value = value * 10 + digit;
    } else {
      return std::nullopt;
    }
    previous = c;
  }
  if (!negative && value > static_cast<std::uint64_t>(INT64_MAX))
    return std::nullopt;
  return negative ? static_cast<std::int64_t>(0 - value) : static_cast<std::int64_t>(value);
}

} // namespace modeld::formats
