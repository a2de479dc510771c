#pragma once
// Table-driven driver tests from tests/data/<driver>/: each <name>.txt holds
// "<topic>\n<payload>" (the same files seed the fuzzers), each <name>.expect
// the decoded result as lines:
//   device <id> | kind <kind> | time <unix ms> | seq <n> | availability <state>
//   reading <metric> <value, %.6g> | event <kind> <severity> <attributes>
//   incident <key> open|closed <kind> <severity> start <ms|-> end <ms|-> <attributes>
//   field <reason> <detail prefix> | rejected <reason> [<detail prefix>] | ignored <reason>
// Fixtures run in file-name order through one driver instance, because some
// messages teach the driver something (bridge/devices, discovery configs).
// Lines compare as a multiset; "field" and "rejected" lines match by prefix.

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "drivers/driver.hpp"
#include "gateway/config/config.hpp"
#include "tests/support/fixture_files.hpp"

namespace communegw::test {

// The decoded message, or a test failure naming the rejection.
inline decoded_message ok(const decode_result& result) {
  if (const auto* why = std::get_if<rejection>(&result)) FAIL("rejected: " << to_string(why->reason) << ": " << why->detail);
  return std::get<decoded_message>(result);
}

inline void describe_message(const decoded_message& message, std::vector<std::string>& lines) {
  if (!message.device_id.empty()) {
    lines.push_back("device " + message.device_id);
    lines.push_back(fmt::format("kind {}", to_string(message.kind)));
  }
  if (message.device_time_ms) lines.push_back(fmt::format("time {}", *message.device_time_ms));
  if (message.sequence) lines.push_back(fmt::format("seq {}", *message.sequence));
  if (message.reported_availability) lines.push_back(fmt::format("availability {}", to_string(*message.reported_availability)));
  for (const auto& r : message.readings) lines.push_back(fmt::format("reading {} {:.6g}", r.metric->name, r.value));
  for (const auto& e : message.events) {
    if (e.incident.empty()) {
      lines.push_back(fmt::format("event {} {} {}", e.kind, to_string(e.level), e.attributes_json));
    } else {
      const auto when = [](const std::optional<std::int64_t>& ms) { return ms ? std::to_string(*ms) : std::string("-"); };
      lines.push_back(fmt::format("incident {} {} {} {} start {} end {} {}", e.incident, e.closed ? "closed" : "open", e.kind,
                                  to_string(e.level), when(e.start_ms), when(e.end_ms), e.attributes_json));
    }
  }
  for (const auto& f : message.field_rejections) lines.push_back(fmt::format("field {} {}", to_string(f.reason), f.detail));
  // A message reporting for several devices: each of the others, in order.
  for (const auto& other : message.other_devices) describe_message(other, lines);
}

inline std::vector<std::string> describe_result(const decode_result& result) {
  std::vector<std::string> lines;
  if (const auto* why = std::get_if<rejection>(&result)) {
    lines.push_back(fmt::format("rejected {} {}", to_string(why->reason), why->detail));
    return lines;
  }
  const auto& message = std::get<decoded_message>(result);
  describe_message(message, lines);
  if (const auto why = why_ignored(message)) lines.push_back(fmt::format("ignored {}", to_string(*why)));
  return lines;
}

// True when every expected line matches a distinct actual line and nothing is left over.
inline bool result_matches(std::vector<std::string> actual, const std::vector<std::string>& expected) {
  if (actual.size() != expected.size()) return false;
  for (const auto& want : expected) {
    const bool by_prefix = want.rfind("field ", 0) == 0 || want.rfind("rejected ", 0) == 0;
    const auto hit = std::find_if(actual.begin(), actual.end(), [&](const std::string& line) {
      return by_prefix ? line.rfind(want, 0) == 0 : line == want;
    });
    if (hit == actual.end()) return false;
    actual.erase(hit);
  }
  return true;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n    " + line;
  return out;
}

// The driver's settings from tests/data/<driver>/driver.toml, through the real
// config loader (so the fixtures also prove that the documented TOML loads).
inline driver_settings fixture_settings(std::string_view driver_name) {
  const auto text = "[gateway]\nid = \"gw-test\"\nprovince = \"p\"\ncommune = \"c\"\n" +
                    fixture_driver_config(COMMUNEGW_SOURCE_DIR, driver_name);
  const auto cfg = parse_config(text, std::string(driver_name) + "/driver.toml");
  for (const auto& settings : cfg.drivers) {
    if (settings.name == driver_name) return settings;
  }
  FAIL("no driver " << driver_name);
  return {};
}

// Runs every fixture of `driver_name` through `instance`; returns the counts
// of normal and hostile (name starting with 'h') fixtures. `encode` turns a
// fixture's payload text into the bytes on the wire, for binary formats
// (Sparkplug B) whose fixtures are written as text.
inline std::pair<int, int> check_driver_fixtures(std::string_view driver_name, driver& instance,
                                                 const std::function<std::string(std::string_view)>& encode = {}) {
  int normal = 0, hostile = 0;
  for (const auto& fixture : load_driver_fixtures(COMMUNEGW_SOURCE_DIR, driver_name)) {
    CAPTURE(fixture.name);
    const auto payload = encode ? encode(fixture.payload) : fixture.payload;
    const auto actual = describe_result(instance.decode(fixture.topic, payload));
    CHECK_MESSAGE(result_matches(actual, fixture.expected),
                  fixture.name << "\n  expected:" << joined(fixture.expected) << "\n  actual:" << joined(actual));
    (fixture.name.front() == 'h' ? hostile : normal)++;
  }
  return {normal, hostile};
}

}  // namespace communegw::test
