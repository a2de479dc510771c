#pragma once
// Device ids from topics. Topics are not trusted identifiers: a Zigbee
// friendly name may hold spaces, '/', Vietnamese text or 10 kB of junk. Every
// driver turns the name it finds into a device id the same way.

#include <optional>
#include <string>
#include <string_view>

namespace communegw {

inline constexpr std::size_t max_device_id_bytes = 128;

// "<prefix><name>" with the name trimmed of ASCII whitespace and cut to
// max_device_id_bytes in total, on a UTF-8 character boundary. Nullopt when
// the name is empty after trimming, is not valid UTF-8, or holds control
// characters or MQTT wildcards (such a name cannot come from a real device).
std::optional<std::string> normalise_device_id(std::string_view prefix, std::string_view name);

}  // namespace communegw
