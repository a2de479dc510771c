#pragma once
// Driver fixture files, tests/data/<driver>/<name>.txt ("<topic>\n<payload>")
// with <name>.expect beside it (format: tests/unit/driver_fixtures.hpp).
// Shared by the table-driven unit tests and the integration tests that
// publish the same fixtures through a real broker.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace communegw::test {

struct driver_fixture {
  std::string name;
  std::string topic;
  std::string payload;
  std::vector<std::string> expected;
};

inline std::string read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// tests/data/<driver>/driver.toml: the [driver.<name>] section a driver whose
// behaviour is configuration (json_mapping, the LoRaWAN drivers) decodes its
// fixtures with, in every test that uses them.
inline std::string fixture_driver_config(const std::filesystem::path& source_dir, std::string_view driver_name) {
  return read_whole_file(source_dir / "tests" / "data" / std::string(driver_name) / "driver.toml");
}

// `source_dir`: the repository root (tests get it as COMMUNEGW_SOURCE_DIR).
inline std::vector<driver_fixture> load_driver_fixtures(const std::filesystem::path& source_dir, std::string_view driver_name) {
  const auto dir = source_dir / "tests" / "data" / std::string(driver_name);
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".txt") inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  std::vector<driver_fixture> fixtures;
  for (const auto& input : inputs) {
    driver_fixture fixture;
    fixture.name = input.stem().string();
    const auto text = read_whole_file(input);
    const auto newline = text.find('\n');
    fixture.topic = text.substr(0, newline);
    fixture.payload = newline == std::string::npos ? "" : text.substr(newline + 1);
    std::istringstream expect(read_whole_file(std::filesystem::path(input).replace_extension(".expect")));
    for (std::string line; std::getline(expect, line);) {
      if (!line.empty() && line.front() != '#') fixture.expected.push_back(line);
    }
    fixtures.push_back(std::move(fixture));
  }
  return fixtures;
}

}  // namespace communegw::test
