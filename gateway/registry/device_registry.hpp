#pragma once
// The commune's device registry: what the installer knows about each device
// that its messages do not say (what it is, where it stands, the road it
// lights, how often it reports, the units of fields its bridge never
// announces). Devices come from the config ([[device]], docs/devices.md) and
// from an installer's spreadsheet imported into the store (`communegw device
// import FILE.csv`); the config wins where both name a device. A device that
// is not registered works exactly as without a registry.
//
// Threading: built once at start-up, then read-only: any thread may read it.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/config/config.hpp"
#include "gateway/model/record.hpp"

namespace communegw {

class device_registry {
 public:
  device_registry() = default;
  // `configured` wins over `imported` for the same id.
  device_registry(std::vector<registered_device> configured, std::vector<registered_device> imported);

  const registered_device* find(std::string_view id) const;
  // The unit the installer registered for one field of a device, if any.
  std::optional<std::string_view> unit_of(std::string_view device_id, std::string_view field) const;
  // How often the device is expected to report `metric`: its interval for
  // that metric, else its report_interval; 0 when not known.
  std::chrono::milliseconds expected_interval(std::string_view device_id, std::string_view metric) const;
  const std::vector<registered_device>& all() const { return devices_; }
  bool empty() const { return devices_.empty(); }

  // Applies what the registry knows to one decoded message (and the other
  // devices it reports for): the registered kind replaces the driver's guess,
  // and a relay registered as a streetlight reports lamp_on, not switch_on.
  void apply(decoded_message& message) const;

 private:
  std::vector<registered_device> devices_;
  std::unordered_map<std::string_view, std::size_t> by_id_;  // views into devices_
};

// device_kind from its name (streetlight, environment, camera, gateway).
std::optional<device_kind> parse_device_kind(std::string_view text);

// Checks one device across its keys (id, kind, ranges, driver, units);
// returns "key: message", or an empty string when it is valid.
std::string check_registered_device(registered_device& device);
// "field=unit" pairs separated by `separator` into `units`; returns a message
// when one is not that shape.
std::string parse_unit_pairs(std::string_view text, std::map<std::string, std::string, std::less<>>& units, char separator);
// "metric=duration" pairs ("pm2_5=5m;rainfall=1h") into `intervals`; returns a
// message when one is not that shape, names no canonical metric or no duration.
std::string parse_metric_intervals(std::string_view text,
                                   std::map<std::string, std::chrono::milliseconds, std::less<>>& intervals, char separator);

}  // namespace communegw
