// `communegw describe`: reference texts generated from the code, so the
// example config and docs/metrics.md cannot drift from what the binary does.
#include <iostream>

#include <fmt/format.h>

#include "drivers/registry.hpp"
#include "gateway/broker/broker_accounts.hpp"
#include "gateway/cli/commands.hpp"
#include "gateway/model/metric_catalogue.hpp"

namespace communegw {

int describe(const std::string& what) {
  if (what == "config") {
    std::cout << example_config();
  } else if (what == "metrics") {
    std::cout << metric_catalogue_markdown();
  } else if (what == "drivers") {
    for (const auto& driver : driver_registry()) {
      std::cout << fmt::format("{:<10} {}{}\n           topics: {}\n", driver.name, driver.summary,
                               driver.enabled_by_default ? "" : " (off by default)", fmt::join(driver.default_topics, ", "));
    }
  } else if (what == "broker-acl") {
    std::cout << broker_acl(all_device_broker_users());
  } else {
    std::cerr << "describe: expected config, metrics, drivers or broker-acl\n";
    return 2;
  }
  return 0;
}

}  // namespace communegw
