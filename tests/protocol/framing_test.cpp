#include "protocol/framing.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using modeld::protocol::frame;
using modeld::protocol::line_splitter;

namespace {

struct collected {
  std::vector<std::string> lines;
  std::vector<std::size_t> too_large;
};

collected feed_all(line_splitter& splitter, const std::vector<std::string>& chunks) {
  collected out;
  for (auto& chunk : chunks)
    splitter.feed(chunk, [&](const frame& f) {
      if (f.type == frame::kind::line)
        out.lines.emplace_back(f.text);
      else
        out.too_large.push_back(f.size);
    });
  return out;
}

} // namespace

TEST_CASE("lines split on newline across chunks", "[framing]") {
  line_splitter splitter(100);
  auto out = feed_all(splitter, {"{\"a\":1}\n{\"b\"", ":2}\n", "{\"c\":3}"});
  REQUIRE(out.lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"});
  CHECK(splitter.has_partial_line());
  out = feed_all(splitter, {"\n"});
  REQUIRE(out.lines == std::vector<std::string>{"{\"c\":3}"});
  CHECK_FALSE(splitter.has_partial_line());
}

TEST_CASE("trailing carriage return and byte-order mark are stripped", "[framing]") {
  line_splitter splitter(100);
  auto out = feed_all(splitter, {"\xEF\xBB\xBF{\"a\":1}\r\n{\"b\":2}\r\n"});
  REQUIRE(out.lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"});
}

TEST_CASE("blank lines are skipped", "[framing]") {
  line_splitter splitter(100);
  auto out = feed_all(splitter, {"\n\r\n  \n{}\n"});
  REQUIRE(out.lines == std::vector<std::string>{"{}"});
}

TEST_CASE("an oversized line is reported once and the stream resynchronizes", "[framing]") {
  line_splitter splitter(10);
  auto out = feed_all(splitter, {std::string(8, 'x'), std::string(8, 'y'), std::string(100, 'z'), "\n{\"ok\":1}\n"});
  REQUIRE(out.too_large == std::vector<std::size_t>{116});
  REQUIRE(out.lines == std::vector<std::string>{"{\"ok\":1}"});
}

TEST_CASE("an oversized line inside one chunk is reported", "[framing]") {
  line_splitter splitter(10);
  auto out = feed_all(splitter, {std::string(11, 'a') + "\nshort\n"});
  REQUIRE(out.too_large == std::vector<std::size_t>{11});
  REQUIRE(out.lines == std::vector<std::string>{"short"});
}

TEST_CASE("a line exactly at the limit passes, with or without carriage return", "[framing]") {
  line_splitter splitter(10);
  auto out = feed_all(splitter, {std::string(10, 'a') + "\r\n", std::string(10, 'b') + "\n"});
  REQUIRE(out.lines.size() == 2);
  REQUIRE(out.too_large.empty());
}

TEST_CASE("a line at the limit behind a byte-order mark passes however TCP splits it", "[framing]") {
  const std::string line = "\xEF\xBB\xBF" + std::string(10, 'a') + "\r\n";
  for (std::size_t split = 1; split < line.size(); ++split) {
    INFO("split at " << split);
    line_splitter splitter(10);
    auto out = feed_all(splitter, {line.substr(0, split), line.substr(split)});
    CHECK(out.lines == std::vector<std::string>{std::string(10, 'a')});
    CHECK(out.too_large.empty());
  }
}

TEST_CASE("the pending buffer never grows past the limit", "[framing]") {
  line_splitter splitter(1000);
  collected out;
  for (int i = 0; i < 10000; ++i)
    splitter.feed(std::string(1000, 'q'), [&](const frame& f) { out.too_large.push_back(f.size); });
  splitter.feed("\n", [&](const frame& f) { out.too_large.push_back(f.size); });
  REQUIRE(out.too_large == std::vector<std::size_t>{10'000'000});
}
