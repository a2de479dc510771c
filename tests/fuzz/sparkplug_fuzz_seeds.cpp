// Writes the Sparkplug fixtures of tests/data/sparkplug/ as fuzz seeds: one
// file per fixture, "<topic>\n<payload bytes>", the payload encoded from the
// fixture's text (tests/support/sparkplug_payload.hpp).
// Usage: sparkplug_fuzz_seeds <output directory>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/support/fixture_files.hpp"
#include "tests/support/sparkplug_payload.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  int written = 0;
  for (const auto& fixture : communegw::test::load_driver_fixtures(COMMUNEGW_SOURCE_DIR, "sparkplug")) {
    std::ofstream file(out / fixture.name, std::ios::binary | std::ios::trunc);
    file << fixture.topic << '\n' << communegw::test::encode_sparkplug_fixture(fixture.payload);
    ++written;
  }
  std::printf("%d seeds in %s\n", written, out.c_str());
  return written > 0 ? 0 : 1;
}
