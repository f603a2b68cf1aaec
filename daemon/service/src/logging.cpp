#include "crmsync/service/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <regex>

namespace crmsync::service {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("crmsyncd");
  bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  // UTC time stamps: nothing in the daemon reads local time while TZ may be switched by
  // the time zone code (config/src/time_zone.cpp).
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      journal ? "[%l] %v" : "%Y-%m-%dT%H:%M:%S.%eZ crmsyncd[%P] [%l] %v",
      spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

std::string redact(std::string text) {
  static const std::regex kPatterns[] = {
      std::regex(R"((Bearer\s+)[^\s"',;]+)", std::regex::icase),
      std::regex(
          R"(((client_secret|access_token|refresh_token|password)["']?\s*[=:]\s*["']?)[^\s"'&,;]+)",
          std::regex::icase),
  };
  for (const auto& re : kPatterns) text = std::regex_replace(text, re, "$1***");
  return text;
}

}  // namespace crmsync::service
