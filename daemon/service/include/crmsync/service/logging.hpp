// Logging: spdlog to stderr, plain lines (the journal adds its own time stamps; elsewhere
// lines carry a UTC time). Secrets never reach the log: messages that may carry foreign
// text go through redact().
#pragma once

#include <string>

namespace crmsync::service {

void setup_logging(const std::string& level);
// Masks bearer tokens, client secrets and access tokens in `text`.
std::string redact(std::string text);

}  // namespace crmsync::service
