#pragma once
// For fuzz targets of drivers whose behaviour is configuration (json_mapping,
// the LoRaWAN drivers): the settings their fixtures are decoded with,
// tests/data/<driver>/driver.toml, through the real config loader. Any config
// error aborts the run at once: a fuzzer with a wrong mapping fuzzes nothing.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/config/config.hpp"
#include "tests/support/fixture_files.hpp"

namespace communegw::fuzz {

inline driver_settings configured_driver(std::string_view name) {
  try {
    const auto text = "[gateway]\nid = \"gw-fuzz\"\nprovince = \"p\"\ncommune = \"c\"\n" +
                      test::fixture_driver_config(COMMUNEGW_SOURCE_DIR, name);
    for (const auto& settings : parse_config(text, std::string(name) + "/driver.toml").drivers) {
      if (settings.name == name) return settings;
    }
  } catch (const config_error& error) {
    std::fprintf(stderr, "%s\n", error.what());
  }
  std::abort();
}

}  // namespace communegw::fuzz
