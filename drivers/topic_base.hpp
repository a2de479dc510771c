#pragma once
// Base topics from a driver's topic filters. Bridges such as Zigbee2MQTT,
// Frigate and EPEver2MQTT publish everything under one configurable prefix;
// the driver takes that prefix from its own filters, so one instance can serve
// several bridges (one per coordinator, NVR or RS-485 adapter) and a prefix is
// configured in one place only.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace communegw {

// The literal part of each filter before its first wildcard ("zigbee2mqtt/#"
// -> "zigbee2mqtt"; a plain topic gives its parent), without trailing '/',
// duplicates removed, longest first so a nested base wins.
std::vector<std::string> bases_from_filters(const std::vector<std::string>& filters);

struct topic_under_base {
  std::string_view base;  // points into the topic
  std::string_view rest;  // after "<base>/", never empty
};

// The longest of `bases` that `topic` starts with, followed by '/' and more.
std::optional<topic_under_base> split_base(const std::vector<std::string>& bases, std::string_view topic);

}  // namespace communegw
