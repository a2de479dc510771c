#include "gateway/registry/device_registry.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "gateway/config/quantity.hpp"

namespace communegw {

std::optional<device_kind> parse_device_kind(std::string_view text) {
  for (const auto kind : {device_kind::streetlight, device_kind::environment, device_kind::camera, device_kind::gateway}) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

device_registry::device_registry(std::vector<registered_device> configured, std::vector<registered_device> imported)
    : devices_(std::move(configured)) {
  for (auto& device : imported) {
    const bool configured_too = std::any_of(devices_.begin(), devices_.end(),
                                            [&](const registered_device& other) { return other.id == device.id; });
    if (!configured_too) devices_.push_back(std::move(device));
  }
  // Views into devices_, which no longer grows.
  for (std::size_t i = 0; i < devices_.size(); ++i) by_id_.emplace(devices_[i].id, i);
}

const registered_device* device_registry::find(std::string_view id) const {
  if (by_id_.empty()) return nullptr;
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &devices_[it->second];
}

std::optional<std::string_view> device_registry::unit_of(std::string_view device_id, std::string_view field) const {
  const auto* device = find(device_id);
  if (!device) return std::nullopt;
  const auto it = device->units.find(field);
  if (it == device->units.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::chrono::milliseconds device_registry::expected_interval(std::string_view device_id, std::string_view metric) const {
  const auto* device = find(device_id);
  if (!device) return std::chrono::milliseconds(0);
  const auto it = device->metric_intervals.find(metric);
  return it == device->metric_intervals.end() ? device->report_interval : it->second;
}

void device_registry::apply(decoded_message& message) const {
  if (const auto* device = message.device_id.empty() ? nullptr : find(message.device_id)) {
    if (const auto kind = parse_device_kind(device->kind)) message.kind = *kind;
    if (message.kind == device_kind::streetlight) {
      static const metric_info* const switch_on = find_metric("switch_on");
      static const metric_info* const lamp_on = find_metric("lamp_on");
      for (auto& r : message.readings) {
        if (r.metric == switch_on) r.metric = lamp_on;
      }
    }
  }
  for (auto& other : message.other_devices) apply(other);
}

std::string check_registered_device(registered_device& device) {
  if (device.id.empty()) return "id: required";
  if (device.id.size() > 200 ||
      std::any_of(device.id.begin(), device.id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return "id: must be at most 200 bytes without control characters";
  }
  if (!parse_device_kind(device.kind)) {
    return fmt::format("kind: \"{}\" is not streetlight, environment, camera or gateway", device.kind.substr(0, 32));
  }
  if (device.latitude && !(*device.latitude >= -90 && *device.latitude <= 90)) return "latitude: must be within -90 … 90";
  if (device.longitude && !(*device.longitude >= -180 && *device.longitude <= 180)) {
    return "longitude: must be within -180 … 180";
  }
  if (device.latitude.has_value() != device.longitude.has_value()) return "latitude: give latitude and longitude together";
  if (device.road_length_m && !(*device.road_length_m >= 0 && *device.road_length_m <= 100'000)) {
    return "road_length_m: must be within 0 … 100000";
  }
  for (const auto& [field, unit] : device.units) {
    if (field.empty() || unit.empty()) return "units: each entry is field=unit";
  }
  return {};
}

namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string parse_unit_pairs(std::string_view text, std::map<std::string, std::string, std::less<>>& units, char separator) {
  while (!text.empty()) {
    const auto end = text.find(separator);
    const auto pair = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (trimmed(pair).empty()) continue;
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos) return fmt::format("\"{}\" is not field=unit", trimmed(pair).substr(0, 40));
    const auto field = trimmed(pair.substr(0, equals));
    const auto unit = trimmed(pair.substr(equals + 1));
    if (field.empty() || unit.empty()) return fmt::format("\"{}\" is not field=unit", trimmed(pair).substr(0, 40));
    units[std::string(field)] = std::string(unit);
  }
  return {};
}

std::string parse_metric_intervals(std::string_view text,
                                   std::map<std::string, std::chrono::milliseconds, std::less<>>& intervals, char separator) {
  std::map<std::string, std::string, std::less<>> pairs;
  if (auto bad = parse_unit_pairs(text, pairs, separator); !bad.empty()) {
    return fmt::format("\"{}\" is not metric=duration", text.substr(0, 40));
  }
  for (const auto& [metric, duration] : pairs) {
    if (!find_metric(metric)) return fmt::format("\"{}\" is not a canonical metric (docs/metrics.md)", metric.substr(0, 40));
    const auto interval = parse_duration(duration);
    if (!interval || interval->count() <= 0) {
      return fmt::format("\"{}\" is not a duration such as 30s, 5m or 1h", duration.substr(0, 40));
    }
    intervals[metric] = *interval;
  }
  return {};
}

}  // namespace communegw
