// The user's time zone for events: its Windows id (Outlook's names, through ICU's copy of
// CLDR's windowsZones) and wall-clock times in it, which Graph's dateTimeTimeZone values carry.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "crmsync/model/value.hpp"

namespace crmsync::graph {

class Zone {
 public:
  // `iana` ("Europe/Berlin"; "" = the machine's zone). kInvalid naming the zone when ICU does
  // not know it or no Windows zone stands for it.
  static Result<Zone> open(const std::string& iana);

  const std::string& windows_id() const { return windows_; }
  // The wall-clock time of an instant in this zone: "2026-03-01T09:30:00".
  std::string local_text(UtcTime t) const;
  // The instant of a wall-clock time in this zone ("YYYY-MM-DDTHH:MM:SS" with an optional
  // fraction, Graph's dateTime); a time in a DST gap resolves forward. kInvalid when malformed.
  Result<UtcTime> from_local(std::string_view text) const;

 private:
  std::shared_ptr<const void> tz_;  // icu::TimeZone, kept opaque to the header
  std::string windows_;
};

// Graph's dateTime text of an instant in UTC ("2026-03-01T08:00:00.0000000").
std::string utc_text(UtcTime t);
// A dateTime without a zone read as UTC (Prefer: outlook.timezone="UTC"). kInvalid when malformed.
Result<UtcTime> from_utc_text(std::string_view text);

}  // namespace crmsync::graph
