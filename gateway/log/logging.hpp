#pragma once
// Logs go to stdout, one line per event: journald adds time and unit when the
// gateway runs as a service, so the line then carries only level and text.

#include <string>

namespace communegw {

void configure_logging(const std::string& level);

}  // namespace communegw
