// Platforms without systemd: notifications are no-ops.
#include "sd_notify.hpp"

namespace crmsync::daemon {

bool sd_notify(const std::string&) {
  return false;
}
std::optional<std::chrono::microseconds> watchdog_interval() {
  return std::nullopt;
}

}  // namespace crmsync::daemon
