#include "drivers/units.hpp"

#include <array>
#include <cmath>

namespace communegw {
namespace {

struct unit_spelling {
  std::string_view canonical;  // the catalogue's unit
  std::string_view spelling;   // as a device writes it
  double scale;                // canonical = value * scale + offset
  double offset;
};

// Both micro signs are in use: U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
constexpr std::array spellings{
    unit_spelling{"°C", "°C", 1, 0},          unit_spelling{"°C", "C", 1, 0},
    unit_spelling{"°C", "℃", 1, 0},           unit_spelling{"°C", "°F", 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    unit_spelling{"°C", "F", 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    unit_spelling{"°C", "℉", 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    unit_spelling{"°C", "K", 1, -273.15},
    unit_spelling{"hPa", "hPa", 1, 0},        unit_spelling{"hPa", "mbar", 1, 0},
    unit_spelling{"hPa", "Pa", 0.01, 0},      unit_spelling{"hPa", "kPa", 10, 0},
    unit_spelling{"hPa", "bar", 1000, 0},     unit_spelling{"hPa", "mmHg", 1.333223874, 0},
    unit_spelling{"hPa", "inHg", 33.86388158, 0},
    unit_spelling{"µg/m³", "µg/m³", 1, 0},    unit_spelling{"µg/m³", "μg/m³", 1, 0},
    unit_spelling{"µg/m³", "ug/m3", 1, 0},    unit_spelling{"µg/m³", "ug/m³", 1, 0},
    unit_spelling{"µg/m³", "µg/m3", 1, 0},
    unit_spelling{"ppm", "ppm", 1, 0},
    unit_spelling{"ppb", "ppb", 1, 0},        unit_spelling{"ppb", "ppm", 1000, 0},
    unit_spelling{"lx", "lx", 1, 0},          unit_spelling{"lx", "lux", 1, 0},
    unit_spelling{"%", "%", 1, 0},            unit_spelling{"%", "percent", 1, 0},
    unit_spelling{"V", "V", 1, 0},            unit_spelling{"V", "mV", 0.001, 0},
    unit_spelling{"A", "A", 1, 0},            unit_spelling{"A", "mA", 0.001, 0},
    unit_spelling{"W", "W", 1, 0},            unit_spelling{"W", "kW", 1000, 0},
    unit_spelling{"kWh", "kWh", 1, 0},        unit_spelling{"kWh", "Wh", 0.001, 0},
    unit_spelling{"kWh", "MWh", 1000, 0},
    unit_spelling{"dBm", "dBm", 1, 0},        unit_spelling{"dB", "dB", 1, 0},
    unit_spelling{"lqi", "lqi", 1, 0},
    unit_spelling{"s", "s", 1, 0},            unit_spelling{"s", "ms", 0.001, 0},
    unit_spelling{"s", "min", 60, 0},         unit_spelling{"s", "h", 3600, 0},
    unit_spelling{"s", "d", 86400, 0},
    unit_spelling{"B", "B", 1, 0},            unit_spelling{"B", "kB", 1024, 0},
    unit_spelling{"mm", "mm", 1, 0},          unit_spelling{"m", "m", 1, 0},
    unit_spelling{"m", "cm", 0.01, 0},
    unit_spelling{"dB(A)", "dB(A)", 1, 0},    unit_spelling{"dB(A)", "dBA", 1, 0},
    unit_spelling{"VA", "VA", 1, 0},          unit_spelling{"VA", "kVA", 1000, 0},
    unit_spelling{"var", "var", 1, 0},        unit_spelling{"var", "VAr", 1, 0},
    unit_spelling{"var", "kvar", 1000, 0},
    unit_spelling{"ratio", "ratio", 1, 0},    unit_spelling{"ratio", "%", 0.01, 0},
    unit_spelling{"µS/cm", "µS/cm", 1, 0},    unit_spelling{"µS/cm", "μS/cm", 1, 0},
    unit_spelling{"µS/cm", "uS/cm", 1, 0},    unit_spelling{"µS/cm", "mS/cm", 1000, 0},
    unit_spelling{"µS/cm", "dS/m", 1000, 0},
    unit_spelling{"mg/m³", "mg/m³", 1, 0},    unit_spelling{"mg/m³", "mg/m3", 1, 0},
    unit_spelling{"mg/m³", "µg/m³", 0.001, 0}, unit_spelling{"mg/m³", "ug/m3", 0.001, 0},
};

}  // namespace

std::optional<double> to_canonical_unit(const metric_info& metric, std::string_view unit, double value) {
  for (const auto& candidate : spellings) {
    if (candidate.canonical == metric.unit && candidate.spelling == unit) return value * candidate.scale + candidate.offset;
  }
  return std::nullopt;
}

double zcl_illuminance_to_lux(double measured_value) {
  // ZCL 4.2.2.2.1: MeasuredValue = 10000 * log10(lux) + 1; 0 means too dark to measure.
  if (measured_value <= 0) return 0;
  return std::pow(10.0, (measured_value - 1.0) / 10000.0);
}

}  // namespace communegw
