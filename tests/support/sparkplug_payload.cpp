#include "tests/support/sparkplug_payload.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "drivers/sparkplug/sparkplug_b.pb.h"

namespace communegw::test {
namespace {

namespace spb = sparkplug_b;

[[noreturn]] void fail(std::string_view line, std::string_view why) {
  throw std::invalid_argument("sparkplug fixture: " + std::string(why) + ": " + std::string(line));
}

// Words separated by spaces; "…" quoted parts (with escapes) belong to their word.
std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false, quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        quoted = false;
      } else if (c == '\\' && i + 1 < line.size()) {
        const char next = line[++i];
        if (next == 'x' && i + 2 < line.size()) {
          word += static_cast<char>(std::stoi(std::string(line.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          word += next;
        }
      } else {
        word += c;
      }
      continue;
    }
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '"')
      quoted = true;
    else
      word += c;
  }
  if (quoted) fail(line, "unterminated quote");
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::uint64_t unsigned_number(std::string_view text, std::string_view line) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) fail(line, "not an unsigned integer");
  return value;
}

std::int64_t signed_number(std::string_view text, std::string_view line) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) fail(line, "not an integer");
  return value;
}

double real_number(const std::string& text, std::string_view line) {
  if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "inf") return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) fail(line, "not a number");
  return value;
}

std::string hex_bytes(std::string_view hex, std::string_view line) {
  std::string bytes;
  std::string digits;
  for (const char c : hex) {
    if (c != ' ') digits += c;
  }
  if (digits.size() % 2 != 0) fail(line, "odd number of hex digits");
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(digits.data() + i, digits.data() + i + 2, value, 16);
    if (error != std::errc{} || end != digits.data() + i + 2) fail(line, "not hex");
    bytes += static_cast<char>(value);
  }
  return bytes;
}

constexpr std::array<std::string_view, 15> datatype_names{"Unknown", "Int8",    "Int16",  "Int32",    "Int64",
                                                          "UInt8",   "UInt16",  "UInt32", "UInt64",   "Float",
                                                          "Double",  "Boolean", "String", "DateTime", "Text"};

std::uint32_t datatype_of(std::string_view text, std::string_view line) {
  for (std::size_t i = 0; i < datatype_names.size(); ++i) {
    if (datatype_names[i] == text) return static_cast<std::uint32_t>(i);
  }
  return static_cast<std::uint32_t>(unsigned_number(text, line));
}

void set_typed_value(spb::Payload_Metric& metric, const std::string& value, std::string_view line) {
  if (!metric.has_datatype()) fail(line, "value= needs a datatype= before it");
  switch (metric.datatype()) {
    case 1:
    case 2:
    case 3:  // Int8/16/32: 32-bit two's complement
      metric.set_int_value(static_cast<std::uint32_t>(static_cast<std::int32_t>(signed_number(value, line))));
      break;
    case 5:
    case 6:
    case 7:
      metric.set_int_value(static_cast<std::uint32_t>(unsigned_number(value, line)));
      break;
    case 4:
      metric.set_long_value(static_cast<std::uint64_t>(signed_number(value, line)));
      break;
    case 8:
    case 13:
      metric.set_long_value(unsigned_number(value, line));
      break;
    case 9:
      metric.set_float_value(static_cast<float>(real_number(value, line)));
      break;
    case 10:
      metric.set_double_value(real_number(value, line));
      break;
    case 11:
      metric.set_boolean_value(value == "true");
      break;
    case 12:
    case 14:
      metric.set_string_value(value);
      break;
    default:
      fail(line, "value= for a datatype without a value field here");
  }
}

void add_property(spb::Payload_Metric& metric, const std::string& key, const std::string& text, bool is_int,
                  std::string_view line) {
  auto& set = *metric.mutable_properties();
  set.add_keys(key);
  auto& value = *set.add_values();
  if (is_int) {
    value.set_type(3);
    value.set_int_value(static_cast<std::uint32_t>(unsigned_number(text, line)));
  } else {
    value.set_type(12);
    value.set_string_value(text);
  }
}

void add_metric(spb::Payload& payload, const std::vector<std::string>& words, std::string_view line) {
  auto& metric = *payload.add_metrics();
  for (std::size_t i = 1; i < words.size(); ++i) {
    const auto& word = words[i];
    const auto equals = word.find('=');
    const auto key = word.substr(0, equals);
    const auto value = equals == std::string::npos ? std::string() : word.substr(equals + 1);
    if (key == "historical")
      metric.set_is_historical(true);
    else if (key == "transient")
      metric.set_is_transient(true);
    else if (key == "null")
      metric.set_is_null(true);
    else if (equals == std::string::npos)
      fail(line, "expected key=value: " + word);
    else if (key == "name")
      metric.set_name(value);
    else if (key == "alias")
      metric.set_alias(unsigned_number(value, line));
    else if (key == "timestamp")
      metric.set_timestamp(unsigned_number(value, line));
    else if (key == "datatype")
      metric.set_datatype(datatype_of(value, line));
    else if (key == "value")
      set_typed_value(metric, value, line);
    else if (key == "int")
      metric.set_int_value(static_cast<std::uint32_t>(signed_number(value, line)));
    else if (key == "long")
      metric.set_long_value(static_cast<std::uint64_t>(signed_number(value, line)));
    else if (key == "float")
      metric.set_float_value(static_cast<float>(real_number(value, line)));
    else if (key == "double")
      metric.set_double_value(real_number(value, line));
    else if (key == "bool")
      metric.set_boolean_value(value == "true");
    else if (key == "string")
      metric.set_string_value(value);
    else if (key == "engUnit" || key == "EngUnit")
      add_property(metric, key, value, false, line);
    else if (key == "quality")
      add_property(metric, "Quality", value, true, line);
    else
      fail(line, "unknown metric key " + key);
  }
}

}  // namespace

std::string encode_sparkplug_fixture(std::string_view description) {
  spb::Payload payload;
  std::optional<std::string> replaced;  // raw or text
  std::string appended;
  std::optional<std::size_t> keep;
  while (!description.empty()) {
    const auto newline = description.find('\n');
    auto line = description.substr(0, newline);
    description = newline == std::string_view::npos ? std::string_view{} : description.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.find(' ');
    const auto directive = line.substr(0, space);
    const auto rest = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    if (directive == "text") {
      replaced = std::string(rest);
      continue;
    }
    if (directive == "raw") {
      replaced = hex_bytes(rest, line);
      continue;
    }
    if (directive == "append") {
      appended += hex_bytes(rest, line);
      continue;
    }
    const auto words = split_words(line);
    if (directive == "timestamp" && words.size() == 2)
      payload.set_timestamp(unsigned_number(words[1], line));
    else if (directive == "seq" && words.size() == 2)
      payload.set_seq(unsigned_number(words[1], line));
    else if (directive == "truncate" && words.size() == 2)
      keep = static_cast<std::size_t>(unsigned_number(words[1], line));
    else if (directive == "metric")
      add_metric(payload, words, line);
    else
      fail(line, "unknown directive");
  }
  std::string bytes = replaced ? *replaced : payload.SerializeAsString();
  if (keep && *keep < bytes.size()) bytes.resize(*keep);
  return bytes + appended;
}

}  // namespace communegw::test
