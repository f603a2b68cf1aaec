// The user's time zone as Exchange names it: Windows zone ids ("W. Europe Standard Time"),
// from the IANA names crmsync's config uses, through ICU's copy of CLDR's windowsZones table.
#pragma once

#include <string>

#include "crmsync/model/result.hpp"

namespace crmsync::ews {

// The Windows zone id for `iana` ("Europe/Berlin"; "" = the machine's zone). kInvalid naming
// the zone when ICU does not know it or no Windows zone stands for it.
Result<std::string> windows_zone_id(const std::string& iana);

}  // namespace crmsync::ews
