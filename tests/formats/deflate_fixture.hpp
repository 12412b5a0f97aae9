#pragma once

// Raw DEFLATE streams written by Python's zlib (tests/formats/make_deflate_fixtures.py, which
// the build runs before these tests are linked).

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "bytes.hpp"

namespace modeld::formats::test {

struct deflate_case {
  std::string name;
  std::uint32_t crc = 0; // zlib.crc32 of the plain bytes
  std::size_t size = 0;  // of the plain bytes
};

inline bytes deflate_fixture(const std::string& file) {
  const auto path = std::filesystem::path(MODELD_DEFLATE_FIXTURES) / file;
  INFO("deflate fixture " << path << " is missing: the build writes it with /usr/bin/python3");
  REQUIRE(std::filesystem::exists(path));
  std::ifstream in(path, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::vector<deflate_case> deflate_cases() {
  const auto manifest = deflate_fixture("manifest.txt");
  std::istringstream lines(std::string(manifest.begin(), manifest.end()));
  std::vector<deflate_case> cases;
  deflate_case c;
  while (lines >> c.name >> c.crc >> c.size)
    cases.push_back(c);
  REQUIRE_FALSE(cases.empty());
  return cases;
}

} // namespace modeld::formats::test
