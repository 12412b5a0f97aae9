#include "formats/json.hpp"
#include "formats/utf8.hpp"

#include <algorithm>

namespace modeld::formats {

const json_value* json_value::find(std::string_view key) const noexcept {
  for (const auto& member : members)
    if (member.key == key)
      return &member.value;
  return nullptr;
}

namespace {

// Length of the UTF-8 sequence starting at `p` (1-4), or 0 if it is invalid.
std::size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  auto cont = [&](std::size_t i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    if (c == 0xE0 && p[1] < 0xA0)
      return 0; // overlong
    if (c == 0xED && p[1] >= 0xA0)
      return 0; // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if (c == 0xF0 && p[1] < 0x90)
      return 0; // overlong
    if (c == 0xF4 && p[1] >= 0x90)
      return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}

class parser {
public:
  parser(std::string_view text, json_error& error, json_limits limits)
    : begin_(reinterpret_cast<const unsigned char*>(text.data())),
      p_(begin_),
      end_(begin_ + text.size()),
      error_(error),
      limits_(limits) {
  }

  std::optional<json_value> run() {
    json_value root;
    skip_ws();
    if (!value(root, 0))
      return std::nullopt;
    skip_ws();
    if (p_ != end_) {
      fail(json_error_kind::syntax, "unexpected data after the JSON value");
      return std::nullopt;
    }
    return root;
  }

private:
  bool fail(json_error_kind kind, std::string message) {
    error_.kind = kind;
    error_.message = std::move(message);
    error_.offset = static_cast<std::uint64_t>(p_ - begin_);
    return false;
  }

  void skip_ws() noexcept {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(reinterpret_cast<const char*>(p_), word.size()) != word)
      return fail(json_error_kind::syntax, "invalid literal");
    p_ += word.size();
    return true;
  }

  bool value(json_value& out, std::size_t depth) {
    if (p_ == end_)
      return fail(json_error_kind::syntax, "unexpected end of input");
    switch (*p_) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': out.type = json_value::kind::string; return string(out.text);
      case 't': out.type = json_value::kind::boolean; out.boolean = true; return literal("true");
      case 'f': out.type = json_value::kind::boolean; return literal("false");
      case 'n': out.type = json_value::kind::null; return literal("null");
      default: return number(out);
    }
  }

  bool object(json_value& out, std::size_t depth) {
    if (depth > limits_.max_depth)
      return fail(json_error_kind::too_deep, "nesting deeper than " +
                                                 std::to_string(limits_.max_depth));
    out.type = json_value::kind::object;
    ++p_;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"')
        return fail(json_error_kind::syntax, "expected a string key");
      json_member member;
      if (!string(member.key))
        return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':')
        return fail(json_error_kind::syntax, "expected ':'");
      ++p_;
      skip_ws();
      if (!value(member.value, depth))
        return false;
      out.members.push_back(std::move(member));
      skip_ws();
      if (p_ == end_)
        return fail(json_error_kind::syntax, "unterminated object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        break;
      }
      return fail(json_error_kind::syntax, "expected ',' or '}'");
    }
    return unique_keys(out);
  }

  bool unique_keys(const json_value& object) {
    const auto& members = object.members;
    if (members.size() < 2)
      return true;
    std::vector<std::string_view> keys;
    keys.reserve(members.size());
    for (const auto& m : members)
      keys.emplace_back(m.key);
    std::sort(keys.begin(), keys.end());
    auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end())
      return fail(json_error_kind::duplicate_key, "duplicate key \"" + std::string(*dup) + "\"");
    return true;
  }

  bool array(json_value& out, std::size_t depth) {
    if (depth > limits_.max_depth)
      return fail(json_error_kind::too_deep, "nesting deeper than " +
                                                 std::to_string(limits_.max_depth));
    out.type = json_value::kind::array;
    ++p_;
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      skip_ws();
      out.items.emplace_back();
      if (!value(out.items.back(), depth))
        return false;
      skip_ws();
      if (p_ == end_)
        return fail(json_error_kind::syntax, "unterminated array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return fail(json_error_kind::syntax, "expected ',' or ']'");
    }
  }

  bool hex4(std::uint32_t& out) {
    if (end_ - p_ < 4)
      return fail(json_error_kind::syntax, "truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned char c = *p_++;
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= c - '0';
      else if (c >= 'a' && c <= 'f')
        out |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        out |= c - 'A' + 10;
      else
        return fail(json_error_kind::syntax, "invalid \\u escape");
    }
    return true;
  }

  bool string(std::string& out) {
    ++p_; // opening quote
    for (;;) {
      // Copy the run of plain ASCII in one go: headers are almost entirely ASCII.
      const unsigned char* run = p_;
      while (p_ < end_ && *p_ >= 0x20 && *p_ < 0x80 && *p_ != '"' && *p_ != '\\')
        ++p_;
      out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p_ - run));
      if (p_ == end_)
        return fail(json_error_kind::syntax, "unterminated string");
      const unsigned char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20)
        return fail(json_error_kind::syntax, "control character in string");
      if (c >= 0x80) {
        const auto len = utf8_sequence_length(p_, end_);
        if (len == 0)
          return fail(json_error_kind::invalid_utf8, "invalid UTF-8 in string");
        out.append(reinterpret_cast<const char*>(p_), len);
        p_ += len;
        continue;
      }
      // backslash
      ++p_;
      if (p_ == end_)
        return fail(json_error_kind::syntax, "truncated escape");
      const unsigned char e = *p_++;
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp))
            return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail(json_error_kind::invalid_utf8, "lone low surrogate escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u')
              return fail(json_error_kind::invalid_utf8, "lone high surrogate escape");
            p_ += 2;
            std::uint32_t low = 0;
            if (!hex4(low))
              return false;
            if (low < 0xDC00 || low > 0xDFFF)
              return fail(json_error_kind::invalid_utf8, "invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: return fail(json_error_kind::syntax, "invalid escape");
      }
    }
  }

  bool number(json_value& out) {
    const unsigned char* start = p_;
    out.type = json_value::kind::number;
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ == end_ || *p_ < '0' || *p_ > '9')
      return fail(json_error_kind::syntax, "invalid value");
    bool overflow = false;
    std::uint64_t value = 0;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        const std::uint64_t digit = *p_ - '0';
        if (value > (UINT64_MAX - digit) / 10)
          overflow = true;
        else
          value = value * 10 + digit;
        ++p_;
      }
    }
    bool integral = true;
    if (p_ < end_ && *p_ == '.') {
      integral = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9')
        return fail(json_error_kind::syntax, "invalid fraction");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
        ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integral = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-'))
        ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9')
        return fail(json_error_kind::syntax, "invalid exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9')
        ++p_;
    }
    out.text.assign(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p_ - start));
    out.is_unsigned = integral && !negative && !overflow;
    out.unsigned_value = out.is_unsigned ? value : 0;
    return true;
  }

  const unsigned char* begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  json_error& error_;
  json_limits limits_;
};

} // namespace

std::optional<json_value> parse_json(std::string_view text, json_error& error, json_limits limits) {
  return parser(text, error, limits).run();
}

} // namespace modeld::formats
