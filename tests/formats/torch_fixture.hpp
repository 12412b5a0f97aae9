#pragma once

// Real files written by scripts/make_torch_fixtures.py, which the build runs (with Debian's
// /usr/bin/python3 and its torch) before these tests are linked.

#include <catch2/catch.hpp>

#include <filesystem>

namespace modeld::formats::test {

// The fixture file's path; the test fails when it was not written.
inline std::filesystem::path torch_fixture(const char* name) {
  const auto path = std::filesystem::path(MODELD_TORCH_FIXTURES) / name;
  INFO("torch fixture " << path << " is missing: the build writes it with /usr/bin/python3, which needs torch");
  REQUIRE(std::filesystem::exists(path));
  return path;
}

} // namespace modeld::formats::test
