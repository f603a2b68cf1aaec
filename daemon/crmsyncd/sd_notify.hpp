// systemd's notification protocol (sd_notify(3)) without libsystemd: one datagram to the
// unix socket named by $NOTIFY_SOCKET ("@..." = abstract namespace). No-op without it.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace crmsync::daemon {

// Sends e.g. "READY=1"; false when there is no socket or sending failed.
bool sd_notify(const std::string& state);
// The watchdog interval from $WATCHDOG_USEC (when $WATCHDOG_PID is unset or ours).
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace crmsync::daemon
