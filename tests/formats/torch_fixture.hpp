#pragma once

// Real files written by scripts/make_torch_fixtures.py (run by ctest as a fixture setup step).

#include <cstdlib>
#include <filesystem>
#include <optional>

namespace modeld::formats::test {

// The fixture file's path, or nullopt (with a printed reason) when torch fixtures are absent.
inline std::optional<std::filesystem::path> torch_fixture(const char* name) {
  const char* dir = std::getenv("MODELD_TORCH_FIXTURES");
  if (dir == nullptr || !std::filesystem::exists(std::filesystem::path(dir) / name)) {
    WARN("skipped: torch fixture " << name << " missing (needs /usr/bin/python3 with torch; "
                                      "run through ctest)");
    return std::nullopt;
  }
  return std::filesystem::path(dir) / name;
}

} // namespace modeld::formats::test
