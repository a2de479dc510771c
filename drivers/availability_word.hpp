#pragma once
// The words devices use for "reachable" and "gone": Zigbee2MQTT's online/offline,
// Tasmota's Online/Offline last will, ESPHome's birth and will messages.

#include <optional>
#include <string_view>

#include "gateway/model/record.hpp"

namespace communegw {

// "online"/"offline" in any letter case, surrounding ASCII whitespace ignored.
inline std::optional<availability> parse_availability_word(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n' || text.front() == '\r' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  auto equals = [&](std::string_view word) {
    if (text.size() != word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i) {
      // Compare as unsigned: `char` signedness differs between x86 and ARM.
      auto c = static_cast<unsigned char>(text[i]);
      if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
      if (c != static_cast<unsigned char>(word[i])) return false;
    }
    return true;
  };
  if (equals("online")) return availability::online;
  if (equals("offline")) return availability::offline;
  return std::nullopt;
}

}  // namespace communegw
