#include "zone.hpp"

#include <unicode/timezone.h>
#include <unicode/ucal.h>
#include <unicode/unistr.h>

#include <cstdio>

namespace crmsync::graph {
namespace {

const icu::TimeZone& tz_of(const std::shared_ptr<const void>& p) {
  return *static_cast<const icu::TimeZone*>(p.get());
}

// "YYYY-MM-DDTHH:MM:SS[.f...]" as if it were UTC: the wall clock's milliseconds.
Result<UtcTime> wall_ms(std::string_view text) {
  std::string s(text);
  if (s.size() >= 19 && s.find_first_of("Z+", 19) == std::string::npos &&
      s.find('-', 19) == std::string::npos)
    s += "Z";
  auto t = UtcTime::parse(s);
  if (!t) return Error::Invalid("not a Graph dateTime: '" + std::string(text.substr(0, 40)) + "'");
  return *t;
}

}  // namespace

Result<Zone> Zone::open(const std::string& iana) {
  icu::UnicodeString id;
  if (iana.empty()) {
    std::unique_ptr<icu::TimeZone> host(icu::TimeZone::detectHostTimeZone());
    host->getID(id);
    // A machine without a zone setting runs on UTC (as localtime does there).
    if (id == icu::UnicodeString(UCAL_UNKNOWN_ZONE_ID)) id = icu::UnicodeString("UTC");
  } else {
    id = icu::UnicodeString::fromUTF8(iana);
  }
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString canonical;
  icu::TimeZone::getCanonicalID(id, canonical, status);
  std::string name;
  id.toUTF8String(name);
  if (U_FAILURE(status) || canonical.isEmpty())
    return Error::Invalid("time zone '" + name + "' is not in ICU's time zone data");
  icu::UnicodeString windows;
  icu::TimeZone::getWindowsID(canonical, windows, status);
  if (U_FAILURE(status) || windows.isEmpty())
    return Error::Invalid("time zone '" + name +
                          "' has no Windows zone that Outlook knows; set timezone to a zone "
                          "with the same rules, e.g. a nearby city's");
  Zone z;
  windows.toUTF8String(z.windows_);
  std::shared_ptr<icu::TimeZone> tz(icu::TimeZone::createTimeZone(canonical));
  z.tz_ = std::shared_ptr<const void>(tz, tz.get());
  return z;
}

std::string Zone::local_text(UtcTime t) const {
  int32_t raw = 0, dst = 0;
  UErrorCode status = U_ZERO_ERROR;
  tz_of(tz_).getOffset(static_cast<UDate>(t.ms), false, raw, dst, status);
  if (U_FAILURE(status)) raw = dst = 0;
  UtcTime local{t.ms + raw + dst};
  return local.iso().substr(0, 19);
}

Result<UtcTime> Zone::from_local(std::string_view text) const {
  auto wall = wall_ms(text);
  if (!wall) return wall.error();
  int32_t raw = 0, dst = 0;
  UErrorCode status = U_ZERO_ERROR;
  // local=true: the offsets in force at that wall-clock time (a gap resolves forward).
  tz_of(tz_).getOffset(static_cast<UDate>(wall->ms), true, raw, dst, status);
  if (U_FAILURE(status)) return Error::Invalid("time zone conversion failed");
  return UtcTime{wall->ms - raw - dst};
}

std::string utc_text(UtcTime t) {
  std::string iso = t.iso();  // "...T08:00:00Z" or "...T08:00:00.123Z"
  std::string base = iso.substr(0, 19);
  int ms = static_cast<int>(((t.ms % 1000) + 1000) % 1000);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%03d0000", ms);
  return base + frac;
}

Result<UtcTime> from_utc_text(std::string_view text) {
  return wall_ms(text);
}

}  // namespace crmsync::graph
