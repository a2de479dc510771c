#include "tools/sim/commune.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

namespace communegw {
namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t hour_ms = 60 * minute_ms;
constexpr std::int64_t day_ms = 24 * hour_ms;
constexpr std::int64_t streetlight_period_ms = 60'000;
constexpr std::int64_t env_period_ms = 30'000;

// Vietnam keeps UTC+7 all year; the sun and the village follow local time.
double local_hour(std::int64_t sim_ms) {
  const auto local_ms = sim_ms + 7 * hour_ms;
  const auto in_day = ((local_ms % day_ms) + day_ms) % day_ms;
  return static_cast<double>(in_day) / static_cast<double>(hour_ms);
}

// Clear-sky irradiance as a fraction of noon's, November in the Red River delta.
constexpr double sunrise_h = 6.0;
constexpr double sunset_h = 17.5;
double sun(double hour) {
  if (hour <= sunrise_h || hour >= sunset_h) return 0.0;
  return std::pow(std::sin(std::numbers::pi * (hour - sunrise_h) / (sunset_h - sunrise_h)), 1.3);
}

double bump(double hour, double centre, double width) {
  const double d = (hour - centre) / width;
  return std::exp(-0.5 * d * d);
}

double uniform(std::mt19937_64& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }
double normal(std::mt19937_64& rng, double mean, double sd) { return std::normal_distribution<double>(mean, sd)(rng); }
bool chance(std::mt19937_64& rng, double p) { return std::bernoulli_distribution(std::clamp(p, 0.0, 1.0))(rng); }

std::string device_label(std::string_view prefix, std::size_t number, std::size_t total, int min_width) {
  int width = 1;
  for (auto n = total; n >= 10; n /= 10) ++width;
  return fmt::format("{}-{:0{}}", prefix, number, std::max(width, min_width));
}

std::int64_t unix_seconds(std::int64_t sim_ms) { return sim_ms / 1000; }

struct weighted_fault {
  std::string_view code;  // from the native driver's fault table
  double weight;
};
// battery_low_voltage_disconnect is not random: it follows the battery model.
constexpr std::array random_faults{
    weighted_fault{"lamp_open_circuit", 30},      weighted_fault{"lamp_short_circuit", 3},
    weighted_fault{"load_overcurrent", 5},        weighted_fault{"battery_over_voltage", 5},
    weighted_fault{"battery_over_temperature", 3}, weighted_fault{"pv_over_voltage", 4},
    weighted_fault{"pv_reverse_polarity", 1},     weighted_fault{"controller_over_temperature", 2},
};

constexpr std::array<std::string_view, 10> zones{
    "market-gate", "school-road", "dike-path",   "pagoda-yard",      "bridge",
    "ward-office", "ferry-landing", "health-station", "rice-field-track", "village-gate"};

}  // namespace

std::string_view to_string(message_class cls) {
  switch (cls) {
    case message_class::streetlight_status: return "streetlight_status";
    case message_class::env_telemetry: return "env_telemetry";
    case message_class::camera_event: return "camera_event";
  }
  return "unknown";
}

// Commune-wide weather: cloud cover and showers, shared by every device so
// that PV power, temperature and rainfall agree with each other.
struct commune_model::weather {
  std::int64_t last_ms = -1;
  double cloud = 0.3;
  double cloud_target = 0.3;
  bool raining = false;
  double rain_mm_per_h = 0;
  std::int64_t rain_end_ms = 0;
  double total_rain_mm = 0;  // since the start of the run

  void advance(std::int64_t now_ms, std::mt19937_64& rng) {
    if (last_ms < 0) {
      last_ms = now_ms;
      return;
    }
    last_ms = std::max(last_ms, now_ms - 2 * day_ms);  // a long jump only needs the recent past
    while (last_ms < now_ms) {
      const auto step_ms = std::min<std::int64_t>(5 * minute_ms, now_ms - last_ms);
      const double dt_h = static_cast<double>(step_ms) / static_cast<double>(hour_ms);
      last_ms += step_ms;
      const double hour = local_hour(last_ms);
      if (raining) {
        total_rain_mm += rain_mm_per_h * dt_h;
        if (last_ms >= rain_end_ms) raining = false;
      } else if (chance(rng, (0.03 + 0.05 * bump(hour, 15.5, 2.5)) * dt_h)) {
        // Afternoon showers are the likeliest; intensity is log-normal (mostly light, sometimes a downpour).
        raining = true;
        rain_mm_per_h = std::min(60.0, std::exp(normal(rng, 1.2, 0.8)));
        rain_end_ms = last_ms + static_cast<std::int64_t>(uniform(rng, 0.3, 3.0) * static_cast<double>(hour_ms));
      }
      if (chance(rng, 0.3 * dt_h)) cloud_target = uniform(rng, 0.05, 0.75);
      const double target = raining ? 0.95 : cloud_target;
      cloud += (target - cloud) * std::min(1.0, dt_h * 1.5);
    }
  }

  double ambient_c(double hour) const {
    // Minimum before dawn, maximum mid-afternoon; clouds and rain keep it cooler.
    return 23.0 + 4.5 * std::cos(2 * std::numbers::pi * (hour - 14.5) / 24.0) - 1.5 * cloud - (raining ? 1.5 : 0.0);
  }
};

struct commune_model::streetlight {
  double panel_w, lamp_w, capacity_wh, shading, temp_offset;
  double fault_rate;  // new faults per report
  double soc;
  bool low_voltage_disconnect = false;
  std::int64_t last_ms = -1;
  struct active_fault {
    std::string_view code;
    std::int64_t until_ms;
  };
  std::vector<active_fault> faults;

  static double dim_percent(double hour) {
    // Full light for the evening, dimmed after midnight when the lanes are empty,
    // brighter again for the early market.
    if (hour >= 17.0 && hour < 22.0) return 100;
    if (hour >= 22.0) return 70;
    if (hour < 4.5) return 40;
    return 70;
  }
  bool has_fault(std::string_view code) const {
    return std::any_of(faults.begin(), faults.end(), [&](const active_fault& f) { return f.code == code; });
  }
  bool lamp_on(double hour) const { return sun(hour) < 0.02 && !low_voltage_disconnect; }
  double load_w(double hour) const {
    constexpr double standby_w = 0.6;
    if (!lamp_on(hour) || has_fault("lamp_open_circuit")) return standby_w;
    return standby_w + lamp_w * dim_percent(hour) / 100.0;
  }
  double pv_w(double hour, const weather& sky) const {
    double watts = panel_w * 0.9 * sun(hour) * (1.0 - 0.75 * sky.cloud) * shading;
    // A full battery makes the charge controller back off to what the load takes.
    if (soc >= 99.5) watts = std::min(watts, load_w(hour));
    return watts;
  }

  void integrate(std::int64_t now_ms, const weather& sky) {
    if (last_ms < 0) {
      last_ms = now_ms;
      return;
    }
    last_ms = std::max(last_ms, now_ms - 2 * day_ms);
    while (last_ms < now_ms) {
      const auto step_ms = std::min<std::int64_t>(minute_ms, now_ms - last_ms);
      last_ms += step_ms;
      const double hour = local_hour(last_ms);
      const double dt_h = static_cast<double>(step_ms) / static_cast<double>(hour_ms);
      soc += (pv_w(hour, sky) * 0.95 - load_w(hour)) * dt_h / capacity_wh * 100.0;
      soc = std::clamp(soc, 0.0, 100.0);
      if (soc < 8.0) low_voltage_disconnect = true;
      if (low_voltage_disconnect && soc > 25.0) low_voltage_disconnect = false;
    }
  }
};

struct commune_model::env_station {
  double pm_factor, noise_base, rain_factor, water_base, water_level, catchment, temp_offset;
  double last_total_rain = 0;
  double bucket_mm = 0;
  std::int64_t last_ms = -1;
  std::int64_t burning_until_ms = 0;
  std::int64_t burning_from_ms = 0;
  double burning_peak = 0;
};

struct commune_model::camera {
  std::string_view zone_a, zone_b;
  double busyness;
};

struct commune_model::device_slot {
  message_class cls;
  std::size_t index;  // into the vector of its class
  std::string name;
  std::int64_t next_seq;
};

commune_model::commune_model(const commune_layout& layout, std::uint64_t seed, std::int64_t seq_start)
    : commune_(layout.commune), rng_(seed), weather_(std::make_unique<weather>()) {
  for (std::size_t i = 0; i < layout.streetlights; ++i) {
    auto lamp = std::make_unique<streetlight>();
    lamp->panel_w = uniform(rng_, 70, 110);
    lamp->lamp_w = std::array{24.0, 30.0, 40.0}[i % 3];
    lamp->capacity_wh = uniform(rng_, 420, 720);
    // A few poles stand under trees or next to a house.
    lamp->shading = chance(rng_, 0.15) ? uniform(rng_, 0.45, 0.8) : uniform(rng_, 0.9, 1.0);
    lamp->temp_offset = normal(rng_, 0, 1.0);
    // Most controllers raise a new fault every few days; a few bad ones (a loose
    // connector, water in the box) several times a day. A fault lasts ~2 h.
    lamp->fault_rate = chance(rng_, 0.03) ? 0.005 : 0.0002;
    lamp->soc = uniform(rng_, 45, 95);
    streetlights_.push_back(std::move(lamp));
  }
  for (std::size_t i = 0; i < layout.env_stations; ++i) {
    auto station = std::make_unique<env_station>();
    station->pm_factor = uniform(rng_, 0.7, 1.5);
    station->noise_base = chance(rng_, 0.5) ? 8.0 : 0.0;  // next to the provincial road or not
    station->rain_factor = uniform(rng_, 0.8, 1.2);
    station->water_base = uniform(rng_, 0.8, 2.5);
    station->water_level = station->water_base + uniform(rng_, 0.0, 0.2);
    station->catchment = uniform(rng_, 0.5, 2.0);
    station->temp_offset = normal(rng_, 0, 0.6);
    stations_.push_back(std::move(station));
  }
  for (std::size_t i = 0; i < layout.cameras; ++i) {
    auto cam = std::make_unique<camera>();
    cam->zone_a = zones[i % zones.size()];
    cam->zone_b = zones[(i + 3) % zones.size()];
    cam->busyness = uniform(rng_, 0.5, 2.0);
    cameras_.push_back(std::move(cam));
  }

  // Interleave the classes evenly, so that a run cut short by --count still
  // has every class in proportion.
  struct slot {
    double position;
    message_class cls;
    std::size_t index;
  };
  std::vector<slot> order;
  const auto add = [&](std::size_t n, message_class cls) {
    for (std::size_t i = 0; i < n; ++i) order.push_back({(static_cast<double>(i) + 0.5) / static_cast<double>(n), cls, i});
  };
  add(layout.streetlights, message_class::streetlight_status);
  add(layout.env_stations, message_class::env_telemetry);
  add(layout.cameras, message_class::camera_event);
  std::stable_sort(order.begin(), order.end(), [](const slot& a, const slot& b) { return a.position < b.position; });
  for (const auto& each : order) {
    std::string name;
    switch (each.cls) {
      case message_class::streetlight_status: name = device_label("sl", each.index + 1, layout.streetlights, 3); break;
      case message_class::env_telemetry: name = device_label("env", each.index + 1, layout.env_stations, 2); break;
      case message_class::camera_event: name = device_label("cam", each.index + 1, layout.cameras, 2); break;
    }
    if (each.cls == message_class::env_telemetry) station_slots_.push_back(devices_.size());
    devices_.push_back({each.cls, each.index, std::move(name), seq_start});
  }
}

commune_model::~commune_model() = default;

std::size_t commune_model::device_count() const { return devices_.size(); }
message_class commune_model::class_of(std::size_t device) const { return devices_.at(device).cls; }
const std::string& commune_model::device_name(std::size_t device) const { return devices_.at(device).name; }

std::int64_t commune_model::take_seq(std::size_t device) { return devices_.at(device).next_seq++; }

sim_message commune_model::next(std::size_t index, std::int64_t sim_ms) {
  weather_->advance(sim_ms, rng_);
  auto& dev = devices_.at(index);
  const auto seq = dev.next_seq++;
  switch (dev.cls) {
    case message_class::streetlight_status: return streetlight_status(*streetlights_[dev.index], dev.name, sim_ms, seq);
    case message_class::env_telemetry: return env_telemetry(*stations_[dev.index], dev.name, sim_ms, seq);
    case message_class::camera_event: return camera_event(*cameras_[dev.index], dev.name, sim_ms, seq);
  }
  return {};
}

std::int64_t commune_model::first_due_ms(std::size_t index, std::int64_t sim_ms) {
  const auto& dev = devices_.at(index);
  switch (dev.cls) {
    case message_class::streetlight_status:
      return sim_ms + static_cast<std::int64_t>(uniform(rng_, 0, static_cast<double>(streetlight_period_ms)));
    case message_class::env_telemetry:
      return sim_ms + static_cast<std::int64_t>(uniform(rng_, 0, static_cast<double>(env_period_ms)));
    case message_class::camera_event: return next_due_ms(index, sim_ms);
  }
  return sim_ms;
}

std::int64_t commune_model::next_due_ms(std::size_t index, std::int64_t sim_ms) {
  const auto& dev = devices_.at(index);
  switch (dev.cls) {
    case message_class::streetlight_status: return sim_ms + streetlight_period_ms;
    case message_class::env_telemetry: return sim_ms + env_period_ms;
    case message_class::camera_event: {
      // Someone passes every minute or two by day; at night mostly motorbikes and stray dogs.
      const double hour = local_hour(sim_ms);
      const bool daytime = hour >= 5.5 && hour < 21.5;
      const double mean_s = (daytime ? 90.0 : 600.0) / cameras_[dev.index]->busyness;
      const double wait_s = std::exponential_distribution<double>(1.0 / mean_s)(rng_);
      return sim_ms + std::max<std::int64_t>(1000, static_cast<std::int64_t>(wait_s * 1000.0));
    }
  }
  return sim_ms + minute_ms;
}

sim_message commune_model::streetlight_status(streetlight& lamp, const std::string& name, std::int64_t sim_ms,
                                              std::int64_t seq) {
  const auto& sky = *weather_;
  lamp.integrate(sim_ms, sky);
  const double hour = local_hour(sim_ms);

  // Faults come and go; most clear on their own (a loose connector, a hot afternoon).
  std::erase_if(lamp.faults, [&](const streetlight::active_fault& f) { return f.until_ms <= sim_ms; });
  if (chance(rng_, lamp.fault_rate)) {
    double total = 0;
    for (const auto& f : random_faults) total += f.weight;
    double pick = uniform(rng_, 0, total);
    std::string_view code = random_faults.back().code;
    for (const auto& f : random_faults) {
      if ((pick -= f.weight) <= 0) {
        code = f.code;
        break;
      }
    }
    if (!lamp.has_fault(code)) {
      const double hours = std::exponential_distribution<double>(1.0 / 2.0)(rng_);
      lamp.faults.push_back({code, sim_ms + static_cast<std::int64_t>(hours * static_cast<double>(hour_ms)) + minute_ms});
    }
  }

  const double pv_w = lamp.pv_w(hour, sky);
  const double load_w = lamp.load_w(hour);
  const bool lamp_on = lamp.lamp_on(hour);
  const double charge = lamp.panel_w > 0 ? std::min(1.0, 2.0 * pv_w / lamp.panel_w) : 0.0;
  const double battery_v = std::clamp(12.0 + 1.35 * lamp.soc / 100.0 + 0.35 * charge - 0.15 * load_w / lamp.lamp_w +
                                          normal(rng_, 0, 0.02),
                                      9.0, 14.6);
  double pv_v = 0;
  if (sun(hour) > 0.01) {
    pv_v = lamp.soc >= 99.5 ? uniform(rng_, 20.2, 21.3) : 16.8 + 2.2 * std::min(1.0, sun(hour) * 3.0) + normal(rng_, 0, 0.1);
  } else {
    pv_v = uniform(rng_, 0.0, 0.08);  // leakage at night
  }
  const double pv_a = pv_v > 1.0 ? pv_w / pv_v : 0.0;
  const double ambient = sky.ambient_c(hour);
  const double controller_c =
      ambient + 2.0 + lamp.temp_offset + 0.05 * (pv_w + load_w) + 6.0 * sun(hour) * (1.0 - sky.cloud) + normal(rng_, 0, 0.3);

  std::string faults;
  const auto add_fault = [&](std::string_view code) { faults += fmt::format("{}\"{}\"", faults.empty() ? "" : ",", code); };
  if (lamp.low_voltage_disconnect) add_fault("battery_low_voltage_disconnect");
  for (const auto& f : lamp.faults) add_fault(f.code);

  sim_message out;
  out.cls = message_class::streetlight_status;
  out.topic = fmt::format("commune/{}/streetlight/{}/status", commune_, name);
  out.payload = fmt::format(
      "{{\"seq\":{},\"ts\":{},\"lamp_on\":{},\"dim_level\":{},\"battery_voltage\":{:.2f},\"battery_soc\":{:.1f},"
      "\"pv_voltage\":{:.2f},\"pv_current\":{:.2f},\"pv_power\":{:.1f},\"load_power\":{:.1f},"
      "\"controller_temperature\":{:.1f},\"faults\":[{}]}}",
      seq, unix_seconds(sim_ms), lamp_on ? "true" : "false", lamp_on ? streetlight::dim_percent(hour) : 0.0, battery_v,
      lamp.soc, pv_v, pv_a, pv_w, load_w, controller_c, faults);
  return out;
}

sim_message commune_model::env_telemetry(env_station& station, const std::string& name, std::int64_t sim_ms,
                                         std::int64_t seq) {
  const auto& sky = *weather_;
  const double hour = local_hour(sim_ms);
  const double dt_h = station.last_ms < 0 ? 0.0 : static_cast<double>(sim_ms - station.last_ms) / static_cast<double>(hour_ms);
  station.last_ms = sim_ms;

  // A tipping-bucket gauge: it reports whole 0.2 mm tips; the rest waits in the bucket.
  station.bucket_mm += std::max(0.0, (sky.total_rain_mm - station.last_total_rain) * station.rain_factor);
  station.last_total_rain = sky.total_rain_mm;
  const double rain_mm = std::floor(station.bucket_mm / 0.2) * 0.2;
  station.bucket_mm -= rain_mm;
  // The canal rises with rain in its catchment and drains back over about half a day.
  station.water_level += rain_mm * 0.01 * station.catchment;
  station.water_level = station.water_base + (station.water_level - station.water_base) * std::exp(-dt_h / 12.0);

  // Straw burning after the harvest: late afternoon and evening, lasting one or two hours.
  if (sim_ms >= station.burning_until_ms && chance(rng_, (0.01 + 0.12 * bump(hour, 17.5, 1.5)) * dt_h)) {
    station.burning_from_ms = sim_ms;
    station.burning_until_ms = sim_ms + static_cast<std::int64_t>(uniform(rng_, 0.5, 2.0) * static_cast<double>(hour_ms));
    station.burning_peak = uniform(rng_, 80, 350);
  }
  double smoke = 0;
  if (sim_ms < station.burning_until_ms) {
    const double progress = static_cast<double>(sim_ms - station.burning_from_ms) /
                            static_cast<double>(std::max<std::int64_t>(1, station.burning_until_ms - station.burning_from_ms));
    smoke = station.burning_peak * std::sin(std::numbers::pi * progress);
  }
  // Morning traffic and cooking fires, then the evening peak (cooking, burning,
  // a shallow night-time boundary layer trapping it all).
  double pm25 = station.pm_factor * (18.0 + 30.0 * bump(hour, 7.3, 1.0) + 55.0 * bump(hour, 19.0, 1.6)) + smoke;
  if (sky.raining) pm25 *= 0.55;
  pm25 = std::max(1.0, pm25 * std::exp(normal(rng_, 0, 0.1)));
  const double pm10 = pm25 * uniform(rng_, 1.35, 1.8) + 4.0;
  const double temperature = sky.ambient_c(hour) + station.temp_offset + normal(rng_, 0, 0.2);
  const double humidity = std::clamp(92.0 - 2.8 * (temperature - 19.0) + (sky.raining ? 8.0 : 0.0) + normal(rng_, 0, 1.5), 35.0, 100.0);
  const bool awake = hour >= 5.0 && hour < 22.0;
  double noise = 36.0 + (awake ? 14.0 : 0.0) + station.noise_base + 7.0 * bump(hour, 7.0, 1.0) + 7.0 * bump(hour, 17.3, 1.2) +
                 (sky.raining ? 4.0 : 0.0) + normal(rng_, 0, 2.0);
  if (chance(rng_, awake ? 0.1 : 0.02)) noise += uniform(rng_, 8, 25);  // a truck, a loudspeaker, a wedding
  noise = std::clamp(noise, 25.0, 120.0);

  sim_message out;
  out.cls = message_class::env_telemetry;
  out.topic = fmt::format("commune/{}/env/{}/telemetry", commune_, name);
  out.payload = fmt::format(
      "{{\"seq\":{},\"ts\":{},\"pm2_5\":{:.1f},\"pm10\":{:.1f},\"temperature\":{:.2f},\"humidity\":{:.1f},"
      "\"noise_level\":{:.1f},\"rainfall\":{:.1f},\"water_level\":{:.3f}}}",
      seq, unix_seconds(sim_ms), pm25, pm10, temperature, humidity, noise, rain_mm, station.water_level);
  return out;
}

sim_message commune_model::camera_event(camera& cam, const std::string& name, std::int64_t sim_ms, std::int64_t seq) {
  const double hour = local_hour(sim_ms);
  const bool daytime = hour >= 5.5 && hour < 21.5;
  const auto ts = unix_seconds(sim_ms);
  const auto zone = chance(rng_, 0.6) ? cam.zone_a : cam.zone_b;
  const auto snapshot = fmt::format("snap/{}/{}-{}.jpg", name, ts, seq % 10000);

  sim_message out;
  out.cls = message_class::camera_event;
  out.topic = fmt::format("commune/{}/camera/{}/event", commune_, name);
  if (chance(rng_, 0.003)) {
    // Someone turned or covered the camera.
    out.payload = fmt::format(R"({{"seq":{},"ts":{},"event":"tamper","severity":"alarm","zone":"{}","snapshot":"{}"}})", seq,
                              ts, zone, snapshot);
    return out;
  }
  const double pick = uniform(rng_, 0, 1);
  const auto seconds = static_cast<std::int64_t>(uniform(rng_, 2, 40));
  if (pick < (daytime ? 0.35 : 0.5)) {
    // Wind in the bamboo, a dog, headlights.
    out.payload = fmt::format(R"({{"seq":{},"ts":{},"event":"motion","zone":"{}","start":{},"end":{}}})", seq, ts, zone,
                              ts - seconds, ts);
    return out;
  }
  const double which = uniform(rng_, 0, 1);
  const std::string_view object_class = which < (daytime ? 0.45 : 0.35) ? "person" : which < 0.9 ? "motorbike" : "car";
  std::int64_t count = 1;
  while (count < 6 && chance(rng_, object_class == "person" ? 0.35 : 0.15)) ++count;
  const std::string_view kind = pick < (daytime ? 0.9 : 0.92) ? "object" : "line_cross";
  out.payload = fmt::format(
      R"({{"seq":{},"ts":{},"event":"{}","zone":"{}","object":{{"class":"{}","count":{}}},"start":{},"end":{},"snapshot":"{}"}})",
      seq, ts, kind, zone, object_class, count, ts - seconds, ts, snapshot);
  return out;
}

sim_message commune_model::bench_message(std::size_t station, std::int64_t sim_ms, std::size_t bytes) {
  auto& dev = devices_.at(station_slots_.at(station));
  weather_->advance(sim_ms, rng_);
  auto out = env_telemetry(*stations_[station], dev.name, sim_ms, dev.next_seq++);
  // An ignored member brings every message to the same size, so the
  // benchmark's bytes per message do not drift with the readings.
  constexpr std::string_view pad_open = ",\"pad\":\"";
  if (out.payload.size() + pad_open.size() + 1 <= bytes) {
    out.payload.pop_back();  // '}'
    out.payload += pad_open;
    out.payload.append(bytes - out.payload.size() - 2, 'x');
    out.payload += "\"}";
  }
  return out;
}

}  // namespace communegw
