#pragma once
// How much this process has written to storage, from /proc/self/io. On an SD
// card that is wear: the gateway reports it (stats log line, health record)
// so a commune's write rate is known, not guessed (docs/storage.md).

#include <cstdint>
#include <optional>

namespace communegw {

// write_bytes: bytes this process caused to be sent to the block layer
// (page-cache pages it dirtied), or nullopt where /proc/self/io is missing.
std::optional<std::uint64_t> process_write_bytes();

}  // namespace communegw
