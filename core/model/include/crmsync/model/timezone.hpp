// The user's time zone, for task dates (SPEC §7: dates in the user's time zone).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "crmsync/model/value.hpp"

namespace crmsync {

class TimeZone {
 public:
  virtual ~TimeZone() = default;
  // Offset of local time from UTC at the instant `at` (east positive).
  virtual std::chrono::minutes utc_offset(UtcTime at) const = 0;

  // The local calendar date and minute of the day of an instant.
  Date local_date(UtcTime at) const;
  int local_minute_of_day(UtcTime at) const;
  // The instant of a local date and minute of the day (DST gaps resolve forward).
  UtcTime to_utc(Date local, int minute_of_day) const;
};

// A zone with one fixed offset (UTC is FixedOffsetZone(0)).
class FixedOffsetZone final : public TimeZone {
 public:
  explicit FixedOffsetZone(std::chrono::minutes offset) : offset_(offset) {}
  std::chrono::minutes utc_offset(UtcTime) const override { return offset_; }

 private:
  std::chrono::minutes offset_;
};

}  // namespace crmsync
