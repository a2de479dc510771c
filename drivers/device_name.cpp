#include "drivers/device_name.hpp"

#include <simdjson.h>

namespace communegw {
namespace {

bool is_ascii_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

// Length of the longest prefix of `text` (valid UTF-8) not longer than `limit`
// bytes that ends on a character boundary.
std::size_t utf8_cut(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text.size();
  std::size_t cut = limit;
  // Continuation bytes are 10xxxxxx: step back to the start of the character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

}  // namespace

std::optional<std::string> normalise_device_id(std::string_view prefix, std::string_view name) {
  while (!name.empty() && is_ascii_space(static_cast<unsigned char>(name.front()))) name.remove_prefix(1);
  while (!name.empty() && is_ascii_space(static_cast<unsigned char>(name.back()))) name.remove_suffix(1);
  if (name.empty() || prefix.size() >= max_device_id_bytes) return std::nullopt;
  if (!simdjson::validate_utf8(name.data(), name.size())) return std::nullopt;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f || c == '+' || c == '#') return std::nullopt;
  }
  std::string id(prefix);
  id.append(name.substr(0, utf8_cut(name, max_device_id_bytes - prefix.size())));
  return id;
}

}  // namespace communegw
