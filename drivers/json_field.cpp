#include "drivers/json_field.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "gateway/model/json_text.hpp"
#include "gateway/model/timestamp.hpp"

namespace communegw::json_field {
namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    // Compare as unsigned: `char` signedness differs between x86 and ARM.
    const auto ca = static_cast<unsigned char>(a[i]);
    const auto cb = static_cast<unsigned char>(b[i]);
    const auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; };
    if (lower(ca) != lower(cb)) return false;
  }
  return true;
}

}  // namespace

std::optional<bool> read_on_off_word(std::string_view text) {
  if (equals_ignore_case(text, "on") || equals_ignore_case(text, "true") || text == "1") return true;
  if (equals_ignore_case(text, "off") || equals_ignore_case(text, "false") || text == "0") return false;
  // Vietnamese, as device codecs sold here emit it (precomposed, NFC), in the
  // three letter cases a codec writes: bật/tắt (switched on/off) and mở/đóng
  // (opened/closed, as a lamp is "opened" when lit).
  constexpr std::array<std::string_view, 6> on{"bật", "Bật", "BẬT", "mở", "Mở", "MỞ"};
  constexpr std::array<std::string_view, 6> off{"tắt", "Tắt", "TẮT", "đóng", "Đóng", "ĐÓNG"};
  if (std::find(on.begin(), on.end(), text) != on.end()) return true;
  if (std::find(off.begin(), off.end(), text) != off.end()) return false;
  return std::nullopt;
}

bool means_unknown(std::string_view text) {
  return text.empty() || equals_ignore_case(text, "nan") || equals_ignore_case(text, "none") ||
         equals_ignore_case(text, "n/a") || equals_ignore_case(text, "null") || equals_ignore_case(text, "unknown") ||
         equals_ignore_case(text, "unavailable");  // Home Assistant's word for it
}

void count_no_value(const number& read, decoded_message& out, std::string_view field) {
  if (read.state != status::unknown || !read.said_no_value) return;
  out.field_rejections.push_back({reject_reason::no_value, fmt::format("\"{}\": the device says it has no value", field)});
}

std::optional<double> parse_number_text(std::string_view text) {
  // strtod needs a terminated string; device strings are short.
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string copy(text);
  const char first = copy.front();
  if (first != '-' && first != '+' && first != '.' && (first < '0' || first > '9')) return std::nullopt;
  // strtod also reads hexadecimal ("0x1A"): no device means that by a number.
  if (copy.find_first_of("xX") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

number read_number(simdjson::ondemand::value value) {
  // Nearly every value is a number: parse it at once. A failed get_double()
  // leaves the value unread, for the path by type below.
  if (double parsed = 0; value.get_double().get(parsed) == simdjson::SUCCESS) {
    return std::isfinite(parsed) ? number{status::ok, parsed} : number{status::wrong_type};
  }
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return {status::wrong_type};
  switch (type) {
    case simdjson::ondemand::json_type::number: {
      double parsed = 0;
      if (value.get_double().get(parsed) || !std::isfinite(parsed)) return {status::wrong_type};
      return {status::ok, parsed};
    }
    case simdjson::ondemand::json_type::null: return {status::unknown};
    case simdjson::ondemand::json_type::string: {
      std::string_view text;
      if (value.get_string().get(text)) return {status::wrong_type};
      if (means_unknown(text)) return {status::unknown, 0.0, !text.empty()};
      if (const auto parsed = parse_number_text(text)) return {status::ok, *parsed};
      return {status::wrong_type};
    }
    default: return {status::wrong_type};
  }
}

number read_switch(simdjson::ondemand::value value) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return {status::wrong_type};
  if (type == simdjson::ondemand::json_type::boolean) {
    bool flag = false;
    if (value.get_bool().get(flag)) return {status::wrong_type};
    return {status::ok, flag ? 1.0 : 0.0};
  }
  if (type == simdjson::ondemand::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text)) return {status::wrong_type};
    if (const auto word = read_on_off_word(text)) return {status::ok, *word ? 1.0 : 0.0};
    if (means_unknown(text)) return {status::unknown, 0.0, !text.empty()};
    return {status::wrong_type};
  }
  const auto result = read_number(value);
  if (result.state == status::ok && result.value != 0.0 && result.value != 1.0) return {status::wrong_type};
  return result;
}

std::optional<std::int64_t> read_non_negative_integer(simdjson::ondemand::value value) {
  constexpr std::uint64_t largest = std::uint64_t{1} << 53;  // doubles are exact integers up to here
  // Sequence numbers are plain integers: get_uint64() reads one with a third
  // of get_double()'s instructions. It fails, leaving the value unread, on
  // anything else ("7.0", "-1", 1e3), which the path below decides.
  if (std::uint64_t whole = 0; value.get_uint64().get(whole) == simdjson::SUCCESS) {
    if (whole > largest) return std::nullopt;
    return static_cast<std::int64_t>(whole);
  }
  double parsed = 0;  // get_double() fails on anything but a number
  if (value.get_double().get(parsed)) return std::nullopt;
  if (!(parsed >= 0.0) || parsed > static_cast<double>(largest) || std::floor(parsed) != parsed) return std::nullopt;
  return static_cast<std::int64_t>(parsed);
}

std::optional<std::int64_t> read_timestamp_ms(simdjson::ondemand::value value) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return std::nullopt;
  if (type == simdjson::ondemand::json_type::number) {
    double seconds = 0;
    // Range: 1970 … 2200; a value in milliseconds would land far beyond.
    if (value.get_double().get(seconds) || !(seconds >= 0.0) || seconds > 7.3e9) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(seconds * 1000.0));
  }
  if (type == simdjson::ondemand::json_type::string) {
    std::string_view text;
    if (value.get_string().get(text)) return std::nullopt;
    return parse_rfc3339_ms(text);
  }
  return std::nullopt;
}

bool is_json_non_object(simdjson::ondemand::document& doc) {
  doc.rewind();
  simdjson::ondemand::json_type type;
  if (doc.type().get(type)) return false;
  switch (type) {
    case simdjson::ondemand::json_type::array: return true;  // structure checked well enough for a rejection
    case simdjson::ondemand::json_type::number: {
      double number = 0;
      return doc.get_double().get(number) == simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view text;
      return doc.get_string().get(text) == simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::boolean: {
      bool flag = false;
      return doc.get_bool().get(flag) == simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::null: {
      bool is_null = false;
      return doc.is_null().get(is_null) == simdjson::SUCCESS && is_null;
    }
    default: return false;
  }
}

namespace {

// Parses `payload` into `doc`: binary_payload or malformed_json on failure.
std::optional<rejection> open_document(simdjson::ondemand::parser& parser, padded_buffer& buffer,
                                       std::string_view payload, simdjson::ondemand::document& doc) {
  if (payload.size() > max_json_bytes) {
    return rejection{reject_reason::oversized_payload,
                     fmt::format("a JSON payload of {} bytes is over the {} bytes the gateway parses", payload.size(),
                                 max_json_bytes)};
  }
  // iterate() checks that the whole payload is UTF-8 (stage 1) and fails if
  // it is not; validate_utf8 runs only then, to tell binary payloads from
  // broken JSON (a second pass over every accepted payload cost ~140
  // instructions per message).
  if (const auto error = parser.iterate(buffer.wrap(payload)).get(doc)) {
    if (!simdjson::validate_utf8(payload.data(), payload.size())) {
      return rejection{reject_reason::binary_payload, "payload is not UTF-8 text"};
    }
    return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
  }
  return std::nullopt;
}

}  // namespace

std::optional<rejection> open_array(simdjson::ondemand::parser& parser, padded_buffer& buffer, std::string_view payload,
                                    std::string_view what, simdjson::ondemand::document& doc,
                                    simdjson::ondemand::array& array) {
  if (auto error = open_document(parser, buffer, payload, doc)) return error;
  if (const auto error = doc.get_array().get(array)) {
    return rejection{error == simdjson::INCORRECT_TYPE ? reject_reason::wrong_type : reject_reason::malformed_json,
                     fmt::format("{} must be a JSON array", what)};
  }
  return std::nullopt;
}

std::optional<rejection> open_object(simdjson::ondemand::parser& parser, padded_buffer& buffer,
                                     std::string_view payload, simdjson::ondemand::document& doc,
                                     simdjson::ondemand::object& object) {
  if (auto error = open_document(parser, buffer, payload, doc)) return error;
  if (const auto error = doc.get_object().get(object)) {
    if (error == simdjson::INCORRECT_TYPE && is_json_non_object(doc)) {
      return rejection{reject_reason::wrong_type, "payload must be a JSON object"};
    }
    return rejection{reject_reason::malformed_json,
                     error == simdjson::INCORRECT_TYPE ? "payload is not JSON" : simdjson::error_message(error)};
  }
  return std::nullopt;
}

std::optional<rejection> check_nothing_follows(simdjson::ondemand::document& doc) {
  // simdjson 3.0 has no at_end(); a location inside the buffer means more tokens.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    return rejection{reject_reason::malformed_json, "trailing content after the JSON value"};
  }
  return std::nullopt;
}

std::optional<rejection> read_member(simdjson::simdjson_result<simdjson::ondemand::field>& member, std::string_view& key,
                                     simdjson::ondemand::value& value) {
  if (const auto error = member.unescaped_key().get(key)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
  if (const auto error = member.value().get(value)) return rejection{reject_reason::malformed_json, simdjson::error_message(error)};
  return std::nullopt;
}

std::optional<std::string_view> read_text(simdjson::ondemand::value value) {
  std::string_view text;
  if (value.get_string().get(text)) return std::nullopt;
  return text;
}

std::optional<rejection> read_text_list(simdjson::ondemand::value value, std::string_view field, std::size_t max_items,
                                        std::size_t max_bytes, std::vector<std::string_view>& items) {
  simdjson::ondemand::array array;
  if (value.get_array().get(array)) {
    return rejection{reject_reason::wrong_type, fmt::format("\"{}\" must be an array of strings", field)};
  }
  for (auto item : array) {
    std::string_view text;
    if (item.get_string().get(text) || text.empty() || text.size() > max_bytes) {
      return rejection{reject_reason::wrong_type,
                       fmt::format("\"{}\" must be an array of strings of 1 … {} bytes", field, max_bytes)};
    }
    if (std::find(items.begin(), items.end(), text) != items.end()) continue;
    if (items.size() >= max_items) {
      return rejection{reject_reason::out_of_range, fmt::format("\"{}\" holds more than {} items", field, max_items)};
    }
    items.push_back(text);
  }
  return std::nullopt;
}

void append_text_list(std::string& out, const std::vector<std::string_view>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, items[i]);
  }
  out += ']';
}

simdjson::padded_string_view padded_buffer::wrap(std::string_view payload) {
  const std::size_t needed = payload.size() + simdjson::SIMDJSON_PADDING;
  if (storage_.size() < needed) storage_.resize(needed);
  std::copy(payload.begin(), payload.end(), storage_.begin());
  return simdjson::padded_string_view(storage_.data(), payload.size(), storage_.size());
}

}  // namespace communegw::json_field
