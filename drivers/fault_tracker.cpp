#include "drivers/fault_tracker.hpp"

#include <algorithm>
#include <array>

#include "gateway/model/json_text.hpp"

namespace communegw {
namespace {

struct fault_code {
  std::string_view code;
  severity level;
};
constexpr std::array fault_codes{
    fault_code{"lamp_open_circuit", severity::warning},     fault_code{"lamp_short_circuit", severity::alarm},
    fault_code{"load_overcurrent", severity::alarm},        fault_code{"battery_low_voltage_disconnect", severity::warning},
    fault_code{"battery_over_voltage", severity::warning},  fault_code{"battery_over_temperature", severity::alarm},
    fault_code{"pv_over_voltage", severity::warning},       fault_code{"pv_reverse_polarity", severity::alarm},
    fault_code{"controller_over_temperature", severity::alarm},
    fault_code{"battery_under_voltage", severity::warning}, fault_code{"battery_low_temperature", severity::warning},
    fault_code{"battery_fault", severity::alarm},           fault_code{"pv_input_short_circuit", severity::alarm},
    fault_code{"charger_fault", severity::alarm},           fault_code{"load_fault", severity::alarm},
};

void add_event(decoded_message& out, std::string_view kind, severity level, std::string_view code, bool known) {
  event ev;
  ev.kind = std::string(kind);
  ev.level = level;
  ev.start_ms = out.device_time_ms;
  ev.attributes_json = "{\"code\":";
  append_json_string(ev.attributes_json, code);
  ev.attributes_json += known ? "}" : ",\"known\":false}";
  out.events.push_back(std::move(ev));
}

}  // namespace

severity fault_severity(std::string_view code, bool* known) {
  for (const auto& candidate : fault_codes) {
    if (candidate.code == code) {
      if (known) *known = true;
      return candidate.level;
    }
  }
  if (known) *known = false;
  return severity::warning;
}

void fault_tracker::report(decoded_message& out, std::string_view source, std::vector<std::string> reported) {
  std::string key = out.device_id;
  key += '\n';
  key += source;
  if (active_.size() >= max_tracked && !active_.count(key)) active_.clear();
  auto& active = active_[key];
  for (const auto& code : reported) {
    if (std::find(active.begin(), active.end(), code) != active.end()) continue;  // still active: no news
    bool known = false;
    const auto level = fault_severity(code, &known);
    add_event(out, "lamp_fault", level, code, known);
  }
  for (const auto& code : active) {
    if (std::find(reported.begin(), reported.end(), code) == reported.end()) {
      add_event(out, "lamp_fault_cleared", severity::info, code, true);
    }
  }
  active = std::move(reported);
}

}  // namespace communegw
