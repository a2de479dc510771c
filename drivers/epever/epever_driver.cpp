// EPEver2MQTT driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/epever/epever_driver.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/device_name.hpp"
#include "drivers/fault_tracker.hpp"
#include "drivers/json_field.hpp"
#include "drivers/readings.hpp"
#include "drivers/topic_base.hpp"

namespace communegw {
namespace {

constexpr std::array<std::string_view, 1> default_topics{"EPEver/#"};

// ---- topic ----------------------------------------------------------------

enum class epever_message { data, value, alive, wifi_rssi, ignored };

struct epever_topic {
  epever_message type = epever_message::ignored;
  std::string_view base;
  std::string_view controller;  // "EP_<n>"
  std::string_view group;       // LiveData, StatsData, DeviceData, DeviceControl …
  std::string_view key;
};

// "EP_<n>", n = 1 … 247 (a Modbus address) without leading zeros.
bool is_controller_name(std::string_view name) {
  if (name.size() < 4 || name.size() > 6 || name.substr(0, 3) != "EP_" || name[3] == '0') return false;
  int n = 0;
  for (const char c : name.substr(3)) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n >= 1 && n <= 247;
}

std::variant<epever_topic, rejection> parse_topic(std::string_view base, std::string_view rest) {
  epever_topic parsed;
  parsed.base = base;
  if (rest == "DATA") parsed.type = epever_message::data;
  else if (rest == "Alive") parsed.type = epever_message::alive;
  else if (rest == "Wifi_RSSI") parsed.type = epever_message::wifi_rssi;
  if (parsed.type != epever_message::ignored || rest.substr(0, 3) != "EP_") return parsed;  // IP, DS18B20_<n> …
  const auto first = rest.find('/');
  const auto second = first == std::string_view::npos ? first : rest.find('/', first + 1);
  if (second == std::string_view::npos || rest.find('/', second + 1) != std::string_view::npos) {
    return rejection{reject_reason::unknown_topic, "expected <topic>/EP_<n>/<Group>/<KEY>"};
  }
  parsed.controller = rest.substr(0, first);
  parsed.group = rest.substr(first + 1, second - first - 1);
  parsed.key = rest.substr(second + 1);
  if (!is_controller_name(parsed.controller)) {
    return rejection{reject_reason::unknown_topic, fmt::format("\"{}\" is not EP_<n> with n 1 … 247", parsed.controller.substr(0, 16))};
  }
  // DeviceControl holds commands to the bridge (LOAD_STATE to switch the lamp), not states.
  parsed.type = parsed.group == "DeviceControl" ? epever_message::ignored : epever_message::value;
  return parsed;
}

// ---- payload --------------------------------------------------------------

// A value as either mode carries it: JSON mode has typed JSON values,
// per-value mode the bridge's text ("12.34", "true", "Normal").
struct field_value {
  enum class type { number, boolean, text, unknown, other } kind = type::other;
  double number = 0;
  bool flag = false;
  std::string_view text;  // for unknown: the word that said so ("nan", "n/a"), empty for null
};

field_value from_text(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (text == "true" || text == "false") return {field_value::type::boolean, 0, text == "true", {}};
  if (json_field::means_unknown(text)) return {field_value::type::unknown, 0, false, text};
  if (const auto number = json_field::parse_number_text(text)) return {field_value::type::number, *number};
  return {field_value::type::text, 0, false, text};
}

field_value from_json(simdjson::ondemand::value value) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return {};
  switch (type) {
    case simdjson::ondemand::json_type::boolean: {
      bool flag = false;
      if (value.get_bool().get(flag)) return {};
      return {field_value::type::boolean, 0, flag, {}};
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view text;
      if (value.get_string().get(text)) return {};
      return from_text(text);
    }
    case simdjson::ondemand::json_type::null: return {field_value::type::unknown};
    case simdjson::ondemand::json_type::number: {
      const auto number = json_field::read_number(value);
      if (number.state != json_field::status::ok) return {};
      return {field_value::type::number, number.value};
    }
    default: return {};
  }
}

// Values that are canonical metrics as they are: EPEver2MQTT already scales
// the controller's registers to V, A, W, °C, % and kWh.
struct metric_key {
  std::string_view key;
  std::string_view metric;
};
constexpr std::array metric_keys{
    metric_key{"SOLAR_V", "pv_voltage"},         metric_key{"BATT_V", "battery_voltage"},
    metric_key{"BATT_SOC", "battery_soc"},       metric_key{"BATT_TEMP", "battery_temperature"},
    metric_key{"DEVICE_TEMP", "controller_temperature"},
    metric_key{"LOAD_W", "load_power"},          metric_key{"GEN_TOT", "pv_energy_total"},
    metric_key{"CONS_TOT", "load_energy_total"},      metric_key{"GEN_DAY", "pv_energy_today"},
    metric_key{"CONS_DAY", "load_energy_today"},      metric_key{"BATT_A", "battery_current"},
    metric_key{"BATT_W", "battery_power"},            metric_key{"LOAD_V", "load_voltage"},
    metric_key{"LOAD_A", "load_current"},
};

// State texts of EPEver2MQTT (old and new firmware spell them differently) and
// the fault codes they mean; "Normal" and the like mean no fault.
struct state_text {
  std::string_view key, text, code;  // empty code: no fault
};
constexpr std::array state_texts{
    state_text{"BATT_STATE", "Normal", ""},
    state_text{"BATT_STATE", "Overvolt", "battery_over_voltage"},
    state_text{"BATT_STATE", "Overvoltage", "battery_over_voltage"},
    state_text{"BATT_STATE", "Under Volt", "battery_under_voltage"},
    state_text{"BATT_STATE", "Undervoltage", "battery_under_voltage"},
    state_text{"BATT_STATE", "Low Volt Disconnect", "battery_low_voltage_disconnect"},
    state_text{"BATT_STATE", "Low voltage disconnect", "battery_low_voltage_disconnect"},
    state_text{"BATT_STATE", "Fault", "battery_fault"},
    state_text{"BATT_TEMP_STATE", "Normal", ""},
    state_text{"BATT_TEMP_STATE", "Over WarnTemp", "battery_over_temperature"},
    state_text{"BATT_TEMP_STATE", "Over temperature", "battery_over_temperature"},
    state_text{"BATT_TEMP_STATE", "Below WarnTemp", "battery_low_temperature"},
    state_text{"BATT_TEMP_STATE", "Low temperature", "battery_low_temperature"},
    state_text{"BATT_TEMP_STATE", "Fault", "battery_fault"},
    state_text{"CHARGER_STATE", "Normal", ""},
    state_text{"CHARGER_STATE", "No power connected", ""},  // the panel at night
    state_text{"CHARGER_STATE", "Higher volt input", "pv_over_voltage"},
    state_text{"CHARGER_STATE", "Input overvoltage", "pv_over_voltage"},
    state_text{"CHARGER_STATE", "Input volt error", "charger_fault"},
};

// Fault flags of the NC G3 series, as EPEver2MQTT names them.
struct flag_key {
  std::string_view key, code;
};
constexpr std::array flag_keys{
    flag_key{"LOAD_SHORT_CIRCUIT", "lamp_short_circuit"},
    flag_key{"DEVICE_OVERHEAT", "controller_over_temperature"},
    flag_key{"CHARGING_OVERHEAT", "controller_over_temperature"},
};

struct status_bit {
  std::uint16_t mask, value;  // (word & mask) == value
  std::string_view code;
};
// EPEver Modbus protocol v2.5, real-time status registers 0x3200 … 0x3202.
constexpr std::array battery_status_bits{
    status_bit{0x000F, 1, "battery_over_voltage"},         status_bit{0x000F, 2, "battery_under_voltage"},
    status_bit{0x000F, 3, "battery_low_voltage_disconnect"}, status_bit{0x000F, 4, "battery_fault"},
    status_bit{0x00F0, 0x10, "battery_over_temperature"},  status_bit{0x00F0, 0x20, "battery_low_temperature"},
    status_bit{0x0100, 0x0100, "battery_fault"},           // inner resistance abnormal
    status_bit{0x8000, 0x8000, "battery_fault"},           // wrong rated voltage identified
};
constexpr std::array charging_status_bits{
    status_bit{0xC000, 0x8000, "pv_over_voltage"},         status_bit{0xC000, 0xC000, "charger_fault"},
    status_bit{0x2000, 0x2000, "charger_fault"},           status_bit{0x1000, 0x1000, "charger_fault"},
    status_bit{0x0800, 0x0800, "charger_fault"},           status_bit{0x0400, 0x0400, "charger_fault"},
    status_bit{0x0200, 0x0200, "load_overcurrent"},        status_bit{0x0100, 0x0100, "lamp_short_circuit"},
    status_bit{0x0080, 0x0080, "load_fault"},              status_bit{0x0010, 0x0010, "pv_input_short_circuit"},
    status_bit{0x0002, 0x0002, "charger_fault"},
};
constexpr std::array discharging_status_bits{
    status_bit{0xC000, 0x4000, "battery_under_voltage"},   status_bit{0xC000, 0x8000, "battery_over_voltage"},
    status_bit{0xC000, 0xC000, "load_fault"},              status_bit{0x3000, 0x3000, "load_overcurrent"},
    status_bit{0x0800, 0x0800, "lamp_short_circuit"},      status_bit{0x0400, 0x0400, "load_fault"},
    status_bit{0x0200, 0x0200, "load_fault"},              status_bit{0x0100, 0x0100, "load_fault"},
    status_bit{0x0080, 0x0080, "battery_over_voltage"},    status_bit{0x0040, 0x0040, "lamp_short_circuit"},
    status_bit{0x0020, 0x0020, "load_fault"},              status_bit{0x0010, 0x0010, "load_fault"},
    status_bit{0x0002, 0x0002, "load_fault"},
};

void add_code(std::vector<std::string>& codes, std::string_view code) {
  if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.emplace_back(code);
}

// What one controller's values (a JSON block, or one per-value message) amount to.
struct controller_report {
  decoded_message out;
  std::optional<double> connection;  // the bridge's Modbus error code, 0 when it read the controller
  std::vector<std::pair<std::string, std::vector<std::string>>> faults;  // per source key
  std::optional<double> pv_w, pv_a, pv_w_total, pv_a_total;
};

class epever_driver final : public driver {
 public:
  explicit epever_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  decode_result decode_data(const epever_topic& where, std::string_view payload);
  decode_result decode_value(const epever_topic& where, std::string_view payload);
  static void apply(controller_report& report, std::string_view key, const field_value& value);
  void finish(controller_report& report, bool remembers_totals);
  std::optional<std::string> controller_id(const epever_topic& where, std::string_view name) const;

  std::vector<std::string> bases_;
  fault_tracker faults_;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
  // Per-value mode: the last CONNECTION of each controller (its values are
  // refused while it is not 0), and the controllers with two PV inputs (their
  // SOLAR_TOTAL_* values, not SOLAR_*, are the panel's). Bounded.
  std::unordered_map<std::string, double> connection_;
  std::unordered_set<std::string> has_pv_totals_;
  static constexpr std::size_t max_controllers = 10'000;
};

epever_driver::epever_driver(const driver_settings& settings)
    : bases_(bases_from_filters(settings.topics.empty() ? std::vector<std::string>{"EPEver/#"} : settings.topics)) {}

std::optional<std::string> epever_driver::controller_id(const epever_topic& where, std::string_view name) const {
  return normalise_device_id(std::string(where.base) + "/", name);
}

// The keys apply() reads (the others are not stored).
bool is_read_key(std::string_view key) {
  const auto named = [&](const auto& table) {
    return std::any_of(table.begin(), table.end(), [&](const auto& candidate) { return candidate.key == key; });
  };
  return key == "CONNECTION" || key == "LOAD_STATE" || key == "SOLAR_W" || key == "SOLAR_A" || key == "SOLAR_TOTAL_W" ||
         key == "SOLAR_TOTAL_A" || key == "BATTERY_STATUS" || key == "CHARGING_EQUIPMENT_STATUS" ||
         key == "DISCHARGING_EQUIPMENT_STATUS" || key == "LOAD_OVERLOAD" || named(metric_keys) || named(state_texts) ||
         named(flag_keys);
}

void epever_driver::apply(controller_report& report, std::string_view key, const field_value& value) {
  auto& out = report.out;
  if (value.kind == field_value::type::unknown) {
    // null, "nan": unknown, never 0. A word saying so is counted for the keys
    // read below: a controller that lost a sensor must not go unnoticed.
    if (!value.text.empty() && is_read_key(key)) {
      reject_field(out, reject_reason::no_value, fmt::format("\"{}\": the controller says it has no value", key));
    }
    return;
  }
  auto number = [&]() -> std::optional<double> {
    if (value.kind == field_value::type::number) return value.number;
    reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", key));
    return std::nullopt;
  };
  if (key == "CONNECTION") {
    if (const auto code = number()) report.connection = *code;
    return;
  }
  for (const auto& candidate : metric_keys) {
    if (candidate.key != key) continue;
    if (const auto v = number()) add_reading(out, *find_metric(candidate.metric), *v, key);
    return;
  }
  if (key == "SOLAR_W" || key == "SOLAR_A" || key == "SOLAR_TOTAL_W" || key == "SOLAR_TOTAL_A") {
    if (const auto v = number()) {
      (key == "SOLAR_W" ? report.pv_w : key == "SOLAR_A" ? report.pv_a : key == "SOLAR_TOTAL_W" ? report.pv_w_total : report.pv_a_total) = *v;
    }
    return;
  }
  if (key == "LOAD_STATE") {
    if (value.kind == field_value::type::boolean) add_reading(out, *find_metric("lamp_on"), value.flag ? 1 : 0, key);
    else if (value.kind == field_value::type::number && (value.number == 0 || value.number == 1)) add_reading(out, *find_metric("lamp_on"), value.number, key);
    else reject_field(out, reject_reason::wrong_type, "\"LOAD_STATE\" is not true or false");
    return;
  }
  std::vector<std::string> codes;
  bool is_state = false;
  for (const auto& candidate : state_texts) {
    if (candidate.key != key) continue;
    is_state = true;
    if (value.kind == field_value::type::text && candidate.text == value.text) {
      if (!candidate.code.empty()) add_code(codes, candidate.code);
      report.faults.emplace_back(std::string(key), std::move(codes));
      return;
    }
  }
  if (is_state) {
    reject_field(out, reject_reason::unknown_value,
                 fmt::format("\"{}\" = \"{}\" is not a state EPEver2MQTT publishes", key,
                             value.kind == field_value::type::text ? value.text.substr(0, 32) : std::string_view("(not text)")));
    return;
  }
  for (const auto& candidate : flag_keys) {
    if (candidate.key != key) continue;
    if (value.kind != field_value::type::boolean) {
      reject_field(out, reject_reason::wrong_type, fmt::format("\"{}\" is not true or false", key));
      return;
    }
    if (value.flag) add_code(codes, candidate.code);
    report.faults.emplace_back(std::string(key), std::move(codes));
    return;
  }
  const auto* bits = key == "BATTERY_STATUS"                 ? battery_status_bits.data()
                     : key == "CHARGING_EQUIPMENT_STATUS"    ? charging_status_bits.data()
                     : key == "DISCHARGING_EQUIPMENT_STATUS" ? discharging_status_bits.data()
                                                             : nullptr;
  if (bits || key == "LOAD_OVERLOAD") {
    const auto word = number();
    if (!word) return;
    const double limit = key == "LOAD_OVERLOAD" ? 3 : 0xFFFF;
    if (!(*word >= 0 && *word <= limit) || *word != static_cast<double>(static_cast<int>(*word))) {
      reject_field(out, reject_reason::out_of_range, fmt::format("\"{}\" = {} is not a whole number 0 … {}", key, *word, limit));
      return;
    }
    const auto flags = static_cast<std::uint16_t>(*word);
    if (key == "LOAD_OVERLOAD") {
      if (flags == 3) add_code(codes, "load_overcurrent");  // output power level 3: overload
    } else {
      const std::size_t count = key == "BATTERY_STATUS"              ? battery_status_bits.size()
                                : key == "CHARGING_EQUIPMENT_STATUS" ? charging_status_bits.size()
                                                                     : discharging_status_bits.size();
      for (std::size_t i = 0; i < count; ++i) {
        if ((flags & bits[i].mask) == bits[i].value) add_code(codes, bits[i].code);
      }
    }
    report.faults.emplace_back(std::string(key), std::move(codes));
  }
  // Other keys (CHARGER_MODE, month and year counters, settings …) are not stored.
}

// After all of a controller's values: CONNECTION decides whether they count.
void epever_driver::finish(controller_report& report, bool remembers_totals) {
  auto& out = report.out;
  if (report.connection) out.reported_availability = *report.connection == 0 ? availability::online : availability::offline;
  if (report.connection && *report.connection != 0) {
    const auto refused = out.readings.size() + report.faults.size();
    out.readings.clear();
    out.field_rejections.clear();
    report.faults.clear();
    reject_field(out, reject_reason::device_error,
                 fmt::format("CONNECTION = {}: the bridge could not read the controller; its {} values are invalid",
                             *report.connection, refused));
    return;
  }
  // A controller with two PV inputs reports SOLAR_* for the first and
  // SOLAR_TOTAL_* for both: the panel's figures are the totals.
  bool totals = report.pv_w_total || report.pv_a_total;
  if (remembers_totals) {
    if (totals && has_pv_totals_.size() < max_controllers) has_pv_totals_.insert(out.device_id);
    totals = totals || has_pv_totals_.count(out.device_id);
  }
  const auto pv_w = totals ? report.pv_w_total : report.pv_w;
  const auto pv_a = totals ? report.pv_a_total : report.pv_a;
  if (pv_w) add_reading(out, *find_metric("pv_power"), *pv_w, totals ? "SOLAR_TOTAL_W" : "SOLAR_W");
  if (pv_a) add_reading(out, *find_metric("pv_current"), *pv_a, totals ? "SOLAR_TOTAL_A" : "SOLAR_A");
  for (auto& [source, codes] : report.faults) faults_.report(out, source, std::move(codes));
}

decode_result epever_driver::decode(std::string_view topic, std::string_view payload) {
  const auto under = split_base(bases_, topic);
  if (!under) return rejection{reject_reason::unknown_topic, "topic is not under a configured EPEver2MQTT topic"};
  auto parsed = parse_topic(under->base, under->rest);
  if (auto* error = std::get_if<rejection>(&parsed)) return std::move(*error);
  const auto& where = std::get<epever_topic>(parsed);
  if (where.type == epever_message::ignored) return ignored_message(ignore_reason::ignored_topic);
  if (where.type == epever_message::data) return decode_data(where, payload);
  if (!simdjson::validate_utf8(payload.data(), payload.size())) return rejection{reject_reason::binary_payload, "payload is not UTF-8 text"};
  if (where.type == epever_message::value) return decode_value(where, payload);

  decoded_message out;  // the bridge itself
  out.device_id = std::string(where.base);
  out.kind = device_kind::gateway;
  const auto value = from_text(payload);
  if (where.type == epever_message::alive) {
    if (value.kind != field_value::type::boolean) {
      return rejection{reject_reason::unknown_value, fmt::format("Alive must be true or false, not \"{}\"", payload.substr(0, 32))};
    }
    out.reported_availability = value.flag ? availability::online : availability::offline;
  } else if (value.kind == field_value::type::number) {
    add_reading(out, *find_metric("rssi"), value.number, "Wifi_RSSI");
  } else if (value.kind != field_value::type::unknown) {
    reject_field(out, reject_reason::wrong_type, "\"Wifi_RSSI\" is not a number");
  }
  return out;
}

decode_result epever_driver::decode_value(const epever_topic& where, std::string_view payload) {
  controller_report report;
  const auto id = controller_id(where, where.controller);
  if (!id) return rejection{reject_reason::unknown_topic, "topic is too long for a device id"};
  report.out.device_id = *id;
  report.out.kind = device_kind::streetlight;
  const auto value = from_text(payload);
  apply(report, where.key, value);
  if (report.connection) {
    if (connection_.size() >= max_controllers && !connection_.count(*id)) connection_.clear();
    connection_[*id] = *report.connection;
    // The CONNECTION value itself is the report: the controller is (un)reachable.
    report.out.reported_availability = *report.connection == 0 ? availability::online : availability::offline;
    return std::move(report.out);
  }
  if (const auto last = connection_.find(*id); last != connection_.end() && last->second != 0) {
    decoded_message refused;
    refused.device_id = *id;
    refused.kind = device_kind::streetlight;
    reject_field(refused, reject_reason::device_error,
                 fmt::format("\"{}\": CONNECTION = {}: the bridge could not read the controller", where.key, last->second));
    return refused;
  }
  finish(report, true);
  return std::move(report.out);
}

decode_result epever_driver::decode_data(const epever_topic& where, std::string_view payload) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  decoded_message bridge;
  bridge.device_id = std::string(where.base);
  bridge.kind = device_kind::gateway;
  std::vector<controller_report> controllers;
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) return rejection{reject_reason::malformed_json, "bad member"};
    if (key.substr(0, 3) != "EP_") {
      // The bridge's own figures; DEVICE_QUANTITY, ESP_VCC, sw_version are not stored.
      const std::string_view metric = key == "Wifi_RSSI" ? "rssi" : key == "Runtime" ? "uptime" : key == "DEVICE_FREE_HEAP" ? "free_heap" : "";
      if (metric.empty()) continue;
      const auto v = from_json(value);
      if (v.kind == field_value::type::number) add_reading(bridge, *find_metric(metric), v.number, key);
      else if (v.kind != field_value::type::unknown) reject_field(bridge, reject_reason::wrong_type, fmt::format("\"{}\" is not a number", key));
      continue;
    }
    if (!is_controller_name(key)) {
      reject_field(bridge, reject_reason::unknown_value, fmt::format("\"{}\" is not EP_<n> with n 1 … 247", key.substr(0, 16)));
      continue;
    }
    if (controllers.size() >= 247) return rejection{reject_reason::out_of_range, "more than 247 controllers"};
    const auto id = controller_id(where, key);
    if (!id) return rejection{reject_reason::unknown_topic, "topic is too long for a device id"};
    for (const auto& other : controllers) {
      if (other.out.device_id == *id) return rejection{reject_reason::malformed_json, fmt::format("\"{}\" appears twice", key)};
    }
    controller_report report;
    report.out.device_id = *id;
    report.out.kind = device_kind::streetlight;
    simdjson::ondemand::object groups;
    if (value.get_object().get(groups)) return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be an object", key)};
    for (auto group : groups) {
      std::string_view group_name;
      simdjson::ondemand::value group_value;
      if (group.unescaped_key().get(group_name) || group.value().get(group_value)) return rejection{reject_reason::malformed_json, "bad group"};
      // DeviceData holds settings (voltage thresholds, battery type), DeviceControl commands, BmsData a BMS's view.
      if (group_name != "LiveData" && group_name != "StatsData") continue;
      simdjson::ondemand::object values;
      if (group_value.get_object().get(values)) {
        return rejection{reject_reason::wrong_type, fmt::format("\"{}.{}\" must be an object", key, group_name)};
      }
      for (auto item : values) {
        std::string_view item_key;
        simdjson::ondemand::value item_value;
        if (item.unescaped_key().get(item_key) || item.value().get(item_value)) return rejection{reject_reason::malformed_json, "bad value"};
        apply(report, item_key, from_json(item_value));
      }
    }
    controllers.push_back(std::move(report));
  }
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  // Only an accepted message may change what the driver remembers (faults).
  for (auto& report : controllers) {
    finish(report, false);
    bridge.other_devices.push_back(std::move(report.out));
  }
  return bridge;
}

// ---- factory ----------------------------------------------------------------

}  // namespace

std::unique_ptr<driver> make_epever_driver(const driver_settings& settings) {
  return std::make_unique<epever_driver>(settings);
}

const driver_descriptor epever_driver_descriptor{
    "epever",
    "EPEver solar charge controllers behind EPEver2MQTT (JSON or per-value mode): PV, battery, lamp, energy, "
    "faults as events",
    default_topics,
    false,
    &make_epever_driver,
};

}  // namespace communegw
