// Generic JSON mapping driver. Reads in the order every driver file uses:
// descriptor, topic parsing, payload decoding, factory.
#include "drivers/json_mapping/json_mapping_driver.hpp"

#include <array>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "drivers/device_name.hpp"
#include "drivers/field_mapping.hpp"
#include "drivers/json_field.hpp"

namespace communegw {
namespace {

std::string check_device_prefix(std::string_view prefix);
table_problem check_mapping_table(const driver_table& table);

constexpr std::array<std::string_view, 0> default_topics{};
constexpr std::array<std::string_view, 3> time_format_choices{"iso8601", "epoch_s", "epoch_ms"};

const std::array mapping_members{
    driver_option{"topic", driver_option_kind::text, "",
                  "Topic pattern: MQTT levels, exactly one of them {device} (the device's name), '+' for a level "
                  "that varies and is not the device. driver.json_mapping.topics must subscribe to it.",
                  {}, &check_json_mapping_topic, {}, true, "\"sensors/{device}/telemetry\""},
    driver_option{"device_kind", driver_option_kind::choice, "\"environment\"", "Device kind recorded for these devices.",
                  device_kind_choices},
    driver_option{"device_prefix", driver_option_kind::text, "\"json/\"",
                  "Put before the {device} name to make the device id, so ids of different systems do not collide.",
                  {}, &check_device_prefix},
    driver_option{"time", driver_option_kind::text, "\"\"",
                  "JSON pointer to the device's own timestamp, e.g. \"/ts\". Empty: the device sends none. A device "
                  "clock before 2020 or far ahead is stored but flagged as suspect.",
                  {}, &check_json_pointer},
    driver_option{"time_format", driver_option_kind::choice, "\"iso8601\"",
                  "Format of that timestamp: iso8601 (RFC 3339 with an offset or Z), epoch_s (Unix seconds, "
                  "fractions allowed) or epoch_ms (Unix milliseconds).",
                  time_format_choices},
    driver_option{"sequence", driver_option_kind::text, "\"\"",
                  "JSON pointer to a message counter (an integer ≥ 0), e.g. \"/seq\". With it (or a time), a "
                  "redelivered message is stored once.",
                  {}, &check_json_pointer},
    driver_option{"field", driver_option_kind::table_list, "",
                  "One value of the payload and the metric it becomes; at least one per mapping.", {}, nullptr,
                  field_table_members, false, {}, &check_field_table},
};

const std::array options{
    driver_option{"mapping", driver_option_kind::table_list, "",
                  "One device model: the topics its devices publish on and how their JSON maps to metrics.", {},
                  nullptr, mapping_members, false, {}, &check_mapping_table},
};

// ---- topic ----------------------------------------------------------------

enum class level_kind { literal, any, device };
struct level {
  level_kind kind;
  std::string text;
};

std::vector<level> parse_pattern(std::string_view pattern) {
  std::vector<level> levels;
  while (true) {
    const auto slash = pattern.find('/');
    const auto text = pattern.substr(0, slash);
    if (text == "{device}") levels.push_back({level_kind::device, {}});
    else if (text == "+") levels.push_back({level_kind::any, {}});
    else levels.push_back({level_kind::literal, std::string(text)});
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
  }
  return levels;
}

// The {device} level of `topic` when it has the pattern's shape.
std::optional<std::string_view> match(const std::vector<level>& levels, std::string_view topic) {
  std::optional<std::string_view> device;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const auto slash = topic.find('/');
    const bool last = i + 1 == levels.size();
    if (last != (slash == std::string_view::npos)) return std::nullopt;
    const auto text = topic.substr(0, slash);
    if (levels[i].kind == level_kind::literal && levels[i].text != text) return std::nullopt;
    if (levels[i].kind == level_kind::device) device = text;
    if (!last) topic.remove_prefix(slash + 1);
  }
  return device;
}

// ---- payload --------------------------------------------------------------

struct mapping {
  std::vector<level> levels;
  device_kind kind = device_kind::environment;
  std::string prefix;
  field_mapping fields;
};

class json_mapping_driver final : public driver {
 public:
  explicit json_mapping_driver(const driver_settings& settings);
  decode_result decode(std::string_view topic, std::string_view payload) override;
  void release_memory() override { json_field::release(parser_, buffer_); }

 private:
  std::vector<mapping> mappings_;
  simdjson::ondemand::parser parser_;
  json_field::padded_buffer buffer_;
};

json_mapping_driver::json_mapping_driver(const driver_settings& settings) {
  const auto tables = settings.tables.find("mapping");
  if (tables == settings.tables.end()) return;
  for (const auto& table : tables->second) {
    // Validated at start-up (check_json_mapping_topic, check_mapping_table).
    mapping m;
    m.levels = parse_pattern(table.texts.at("topic"));
    m.kind = table.texts.at("device_kind") == "streetlight" ? device_kind::streetlight : device_kind::environment;
    m.prefix = table.texts.at("device_prefix");
    const auto fields = table.tables.find("field");
    m.fields = field_mapping(fields == table.tables.end() ? std::vector<driver_table>{} : fields->second, false);
    const auto& format = table.texts.at("time_format");
    m.fields.set_time(table.texts.at("time"), format == "epoch_s"    ? time_format::epoch_s
                                              : format == "epoch_ms" ? time_format::epoch_ms
                                                                     : time_format::iso8601);
    m.fields.set_sequence(table.texts.at("sequence"));
    mappings_.push_back(std::move(m));
  }
}

decode_result json_mapping_driver::decode(std::string_view topic, std::string_view payload) {
  const mapping* chosen = nullptr;
  std::optional<std::string_view> name;
  for (const auto& candidate : mappings_) {
    if ((name = match(candidate.levels, topic))) {
      chosen = &candidate;
      break;
    }
  }
  if (!chosen) return rejection{reject_reason::unknown_topic, "no driver.json_mapping.mapping topic matches"};
  const auto id = normalise_device_id(chosen->prefix, *name);
  if (!id) return rejection{reject_reason::unknown_topic, "the {device} level is empty, not UTF-8 or holds control characters"};

  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (auto error = json_field::open_object(parser_, buffer_, payload, doc, object)) return std::move(*error);
  decoded_message out;
  out.device_id = *id;
  out.kind = chosen->kind;
  if (auto error = chosen->fields.apply(object, out)) return std::move(*error);
  if (auto error = json_field::check_nothing_follows(doc)) return std::move(*error);
  return out;
}

// ---- factory ----------------------------------------------------------------

std::string check_device_prefix(std::string_view prefix) {
  if (prefix.size() > 32) return "a device prefix longer than 32 bytes leaves too little of the 128-byte device id";
  if (!simdjson::validate_utf8(prefix.data(), prefix.size())) return "the device prefix is not UTF-8";
  for (const char c : prefix) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '+' || c == '#') {
      return "the device prefix may not hold control characters, '+' or '#'";
    }
  }
  return {};
}

table_problem check_mapping_table(const driver_table& table) {
  const auto fields = table.tables.find("field");
  if (fields == table.tables.end() || fields->second.empty()) {
    return {"field", "a mapping needs at least one [[driver.json_mapping.mapping.field]] table"};
  }
  std::set<std::string_view> pointers;
  for (const auto key : {"time", "sequence"}) {
    const auto& pointer = table.texts.at(key);
    if (!pointer.empty() && !pointers.insert(pointer).second) return {key, fmt::format("\"{}\" is used twice", pointer)};
  }
  for (const auto& field : fields->second) {
    const auto& pointer = field.texts.at("pointer");
    if (!pointers.insert(pointer).second) {
      return {"field", fmt::format("\"{}\" is mapped twice in this mapping", pointer)};
    }
  }
  return {};
}

}  // namespace

std::string check_json_mapping_topic(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) return "a topic pattern has 1 to 256 characters";
  int devices = 0;
  for (const auto& l : parse_pattern(pattern)) {
    if (l.kind == level_kind::device) ++devices;
    if (l.kind != level_kind::literal) continue;
    if (l.text.find_first_of("+#{}") != std::string::npos) {
      return fmt::format("\"{}\": a level is {{device}}, '+' or plain text ('#', braces and partial '+' are not allowed)", pattern);
    }
  }
  if (devices != 1) return fmt::format("\"{}\" must have exactly one {{device}} level", pattern);
  if (!simdjson::validate_utf8(pattern.data(), pattern.size())) return "the topic pattern is not UTF-8";
  return {};
}

std::unique_ptr<driver> make_json_mapping_driver(const driver_settings& settings) {
  return std::make_unique<json_mapping_driver>(settings);
}

const driver_descriptor json_mapping_driver_descriptor{
    "json_mapping",
    "any device publishing JSON, mapped to metrics in this file ([[driver.json_mapping.mapping]] tables)",
    default_topics,
    false,
    &make_json_mapping_driver,
    options,
};

}  // namespace communegw
