#include "crmsync/model/timezone.hpp"

namespace crmsync {
namespace {
constexpr std::int64_t kMsPerMinute = 60'000;
constexpr std::int64_t kMinutesPerDay = 1440;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}
}  // namespace

Date TimeZone::local_date(UtcTime at) const {
  std::int64_t local_min = floor_div(at.ms, kMsPerMinute) + utc_offset(at).count();
  return Date::from_days_since_epoch(floor_div(local_min, kMinutesPerDay));
}

int TimeZone::local_minute_of_day(UtcTime at) const {
  std::int64_t local_min = floor_div(at.ms, kMsPerMinute) + utc_offset(at).count();
  return static_cast<int>(local_min - floor_div(local_min, kMinutesPerDay) * kMinutesPerDay);
}

UtcTime TimeZone::to_utc(Date local, int minute_of_day) const {
  std::int64_t local_min = local.days_since_epoch() * kMinutesPerDay + minute_of_day;
  // Guess with the offset at the local time read as UTC, then correct once with the
  // offset at the guess: exact except inside a DST gap, which resolves forward.
  UtcTime guess{(local_min - utc_offset(UtcTime{local_min * kMsPerMinute}).count()) * kMsPerMinute};
  return UtcTime{(local_min - utc_offset(guess).count()) * kMsPerMinute};
}

}  // namespace crmsync
