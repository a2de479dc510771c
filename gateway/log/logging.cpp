#include "gateway/log/logging.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace communegw {

void configure_logging(const std::string& level) {
  auto logger = spdlog::stdout_logger_mt("communegw");
  // JOURNAL_STREAM is set by systemd when stdout is the journal.
  const bool to_journal = std::getenv("JOURNAL_STREAM") != nullptr;
  logger->set_pattern(to_journal ? "%l: %v" : "%Y-%m-%dT%H:%M:%S.%e %l: %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace communegw
