// A TimeZone backed by the system's TZ database (IANA names), through localtime_r with TZ
// set. The zone lookups are serialised by one process-wide mutex, because TZ is process
// state; nothing else in crmsync reads local time (logs are in UTC).
#pragma once

#include <memory>
#include <string>

#include "crmsync/model/result.hpp"
#include "crmsync/model/timezone.hpp"

namespace crmsync {

// `name` is an IANA zone ("Europe/Berlin"); empty = the machine's zone. kInvalid when the
// name is malformed or the TZ database has no such zone.
Result<std::unique_ptr<TimeZone>> make_time_zone(const std::string& name);

}  // namespace crmsync
