// All-day events as Exchange keeps them: a start moved back and an end moved forward to
// midnight in the event's time zone (StartTimeZone / EndTimeZone, else the request's
// TimeZoneContext, else UTC). Windows zone ids are resolved through ICU's copy of CLDR's
// windowsZones table; the offsets come from ICU's time zone data.
#pragma once

#include <libxml/tree.h>

#include <string>

#include "items.hpp"

namespace ews_emulator {

// The Windows zone id of a request's TimeZoneContext header ("" when it has none).
std::string context_zone(const xmlNode* envelope);

// Moves an all-day CalendarItem's Start and End to the zone's midnights (documented rule:
// a non-midnight start goes to the midnight before, a non-midnight end to the midnight after).
// Other items and timed events are left alone. Throws ItemError ErrorTimeZone for a zone id
// that Windows does not know.
void snap_all_day(ItemData& item, const std::string& context_zone);

}  // namespace ews_emulator
