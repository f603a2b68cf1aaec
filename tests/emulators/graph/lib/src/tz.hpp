// Time zones of dateTimeTimeZone values and `Prefer: outlook.timezone`: Windows zone names
// ("Pacific Standard Time", through ICU's copy of CLDR's windowsZones) or IANA names
// ("Europe/Berlin"), as Outlook takes both. Offsets come from ICU's zone data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace graph_emulator {

bool zone_known(const std::string& name);

// "2017-04-15T12:00:00[.fffffff]" (or a bare date) read in `zone` -> UTC ms; throws GraphError
// (400) for an unknown zone or a malformed dateTime.
std::int64_t local_to_utc(const std::string& local, const std::string& zone);

// UTC ms -> "2017-04-15T05:00:00.0000000" in `zone` (which must be known).
std::string utc_to_local(std::int64_t ms, const std::string& zone);

// The time part of a local dateTime is exactly midnight ("T00:00:00", fractions zero, or none).
bool local_is_midnight(const std::string& local);

}  // namespace graph_emulator
