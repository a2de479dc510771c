#include "gateway/model/metric_catalogue.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include <fmt/format.h>

namespace communegw {
namespace {

// Ranges are what the sensor physically can report in a Vietnamese commune, not
// what is typical: they catch broken sensors and garbage, not bad air days.
constexpr std::array metrics{
    // Solar streetlight controller
    metric_info{"lamp_on", "bool", 0, 1, "Lamp output switched on (1) or off (0)."},
    metric_info{"dim_level", "%", 0, 100, "Lamp dimming level; 100 is full brightness."},
    metric_info{"battery_voltage", "V", 0, 60, "Battery terminal voltage."},
    metric_info{"battery_soc", "%", 0, 100, "Battery state of charge."},
    metric_info{"pv_voltage", "V", 0, 150, "Solar panel voltage."},
    metric_info{"pv_current", "A", 0, 60, "Solar panel current."},
    metric_info{"pv_power", "W", 0, 3000, "Solar panel power."},
    metric_info{"load_power", "W", 0, 1000, "Power drawn by the lamp."},
    metric_info{"controller_temperature", "°C", -40, 125, "Charge controller internal temperature."},
    metric_info{"battery_temperature", "°C", -40, 85, "Battery temperature (the charge controller's probe)."},
    metric_info{"pv_energy_total", "kWh", 0, 10000000, "Solar energy generated, the controller's counter total."},
    metric_info{"load_energy_total", "kWh", 0, 10000000, "Energy consumed by the load, the controller's counter total."},
    metric_info{"pv_energy_today", "kWh", 0, 1000, "Solar energy generated since local midnight (the controller's day counter)."},
    metric_info{"load_energy_today", "kWh", 0, 1000, "Energy consumed by the load since local midnight (the controller's day counter)."},
    metric_info{"battery_current", "A", -100, 100, "Battery current: positive while charging, negative while discharging."},
    metric_info{"battery_power", "W", -3000, 3000, "Battery power: positive while charging, negative while discharging."},
    metric_info{"load_voltage", "V", 0, 60, "Voltage at the controller's load (lamp) output."},
    metric_info{"load_current", "A", 0, 60, "Current drawn by the load (lamp)."},
    metric_info{"fault_active", "bool", 0, 1, "The device reports an active fault (1) or none (0); which fault is an event."},
    // Environment station
    metric_info{"pm2_5", "µg/m³", 0, 2000, "Fine particulate matter, PM2.5 mass concentration."},
    metric_info{"pm10", "µg/m³", 0, 5000, "Coarse particulate matter, PM10 mass concentration."},
    metric_info{"temperature", "°C", -20, 70, "Air temperature."},
    metric_info{"humidity", "%", 0, 100, "Relative humidity."},
    metric_info{"noise_level", "dB(A)", 20, 140, "A-weighted sound pressure level."},
    metric_info{"rainfall", "mm", 0, 500, "Rainfall since the previous report."},
    metric_info{"water_level", "m", -10, 50, "Water level relative to the station's gauge datum."},
    metric_info{"pm1", "µg/m³", 0, 2000, "Ultrafine particulate matter, PM1.0 mass concentration."},
    metric_info{"pressure", "hPa", 300, 1100, "Air pressure at the sensor (station pressure, not reduced to sea level)."},
    metric_info{"co2", "ppm", 0, 40000, "Carbon dioxide concentration."},
    metric_info{"voc", "ppb", 0, 60000, "Total volatile organic compounds."},
    metric_info{"illuminance", "lx", 0, 200000, "Illuminance (daylight sensors, lamp light sensors)."},
    metric_info{"soil_moisture", "%", 0, 100, "Volumetric soil moisture."},
    metric_info{"soil_temperature", "°C", -20, 70, "Soil temperature at the probe."},
    metric_info{"soil_conductivity", "µS/cm", 0, 20000, "Soil electrical conductivity (salinity and fertiliser)."},
    metric_info{"water_temperature", "°C", -5, 60, "Water temperature (pond, canal, tank)."},
    metric_info{"dew_point", "°C", -60, 60, "Dew point of the air, as the sensor computes it."},
    metric_info{"formaldehyde", "mg/m³", 0, 50, "Formaldehyde (HCHO) concentration."},
    metric_info{"rain_detected", "bool", 0, 1, "The rain sensor is wet (1) or dry (0)."},
    // Mains and appliance power (smart plugs, relay boards, energy meters)
    metric_info{"switch_on", "bool", 0, 1, "Relay or switch output on (1) or off (0); a lamp uses lamp_on."},
    metric_info{"voltage", "V", 0, 500, "Supply or mains voltage (battery voltage is battery_voltage)."},
    metric_info{"current", "A", 0, 100, "Load current."},
    metric_info{"power", "W", 0, 25000, "Active power drawn by the load."},
    metric_info{"energy", "kWh", 0, 10000000, "Energy counter total since the meter was reset."},
    metric_info{"energy_today", "kWh", 0, 100000, "Energy counted since local midnight (the meter's day counter)."},
    metric_info{"energy_yesterday", "kWh", 0, 100000, "Energy counted yesterday (the meter's previous day)."},
    metric_info{"apparent_power", "VA", 0, 25000, "Apparent power of the load."},
    metric_info{"reactive_power", "var", -25000, 25000, "Reactive power of the load."},
    metric_info{"power_factor", "ratio", 0, 1, "Power factor of the load, 0 … 1."},
    // Device health
    metric_info{"link_quality", "lqi", 0, 255, "Zigbee link quality indicator of the last message."},
    metric_info{"rssi", "dBm", -130, 0, "Received radio signal strength."},
    metric_info{"snr", "dB", -30, 20, "LoRa signal-to-noise ratio of an uplink at the best gateway."},
    metric_info{"link_margin", "dB", -32, 31,
                "LoRaWAN demodulation margin the device reports for the network's last request (DevStatusAns)."},
    metric_info{"wifi_quality", "%", 0, 100, "Wi-Fi signal quality as the device rates it (Tasmota RSSI %)."},
    metric_info{"uptime", "s", 0, 3200000000, "Time since the device last restarted."},
    metric_info{"free_heap", "B", 0, 1000000000, "Free heap memory on the device's microcontroller."},
    // Cameras
    metric_info{"object_count", "count", 0, 10000, "Objects of one class a camera (or one of its zones) sees now."},
};

// find_metric runs for every value of every message (7 per environment
// message): an open-addressing table built at compile time finds a name with
// one hash and usually one comparison, where a scan of the list compared ~15.
// The hash reads the length and three bytes (first, middle, last), not every
// byte as FNV-1a did (~110 instructions a lookup before, ~70 now); over this
// catalogue it still places every name within two probes (static_assert; the
// multipliers were searched for so that each name has a slot of its own).
constexpr std::uint32_t name_hash(std::string_view name) {
  if (name.empty()) return 0;
  const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(name[i])); };
  return (static_cast<std::uint32_t>(name.size()) * 0x97F9U) ^ (byte(0) * 0x1C67U) ^ (byte(name.size() - 1) * 0xE8D5U) ^
         (byte(name.size() / 2) * 0x36BFU);
}
constexpr std::size_t slot_count = 256;  // a power of two, over 3x the metrics
constexpr std::uint8_t empty_slot = 0xff;
static_assert(metrics.size() * 3 <= slot_count && metrics.size() < empty_slot);
struct slot_table {
  std::array<std::uint8_t, slot_count> slots{};
  std::size_t longest_probe = 0;
};
constexpr slot_table table = [] {
  slot_table built;
  built.slots.fill(empty_slot);
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    auto slot = name_hash(metrics[i].name) & (slot_count - 1);
    std::size_t probes = 1;
    for (; built.slots[slot] != empty_slot; ++probes) slot = (slot + 1) & (slot_count - 1);
    built.slots[slot] = static_cast<std::uint8_t>(i);
    built.longest_probe = std::max(built.longest_probe, probes);
  }
  return built;
}();
static_assert(table.longest_probe <= 2, "a new metric name collides: change name_hash's multipliers");

}  // namespace

std::span<const metric_info> metric_catalogue() { return metrics; }

const metric_info* find_metric(std::string_view name) {
  for (auto slot = name_hash(name) & (slot_count - 1); table.slots[slot] != empty_slot;
       slot = (slot + 1) & (slot_count - 1)) {
    if (const auto& metric = metrics[table.slots[slot]]; metric.name == name) return &metric;
  }
  return nullptr;
}

std::string metric_catalogue_markdown() {
  std::string out =
      "# Canonical metrics\n\n"
      "Every reading the gateway stores or sends upstream uses one of these names, in this unit.\n"
      "Drivers convert device units into these; a value outside the plausible range is rejected\n"
      "with reason `out_of_range` while the message's other readings are kept.\n\n"
      "Generated by `communegw describe metrics` from `gateway/model/metric_catalogue.cpp`;\n"
      "a unit test fails when the two differ.\n\n"
      "| metric | unit | plausible range | meaning |\n"
      "|---|---|---|---|\n";
  for (const auto& m : metrics) {
    out += fmt::format("| `{}` | {} | {} … {} | {} |\n", m.name, m.unit, m.min, m.max, m.description);
  }
  return out;
}

}  // namespace communegw
