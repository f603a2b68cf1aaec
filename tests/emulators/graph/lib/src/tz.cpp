#include "tz.hpp"

#include <unicode/gregocal.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <cstdio>
#include <memory>

#include "util.hpp"

namespace graph_emulator {

namespace {

std::unique_ptr<icu::TimeZone> resolve(const std::string& name) {
  if (name.empty()) return nullptr;
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString iana;
  icu::TimeZone::getIDForWindowsID(icu::UnicodeString::fromUTF8(name), nullptr, iana, status);
  if (U_SUCCESS(status) && !iana.isEmpty())
    return std::unique_ptr<icu::TimeZone>(icu::TimeZone::createTimeZone(iana));
  std::unique_ptr<icu::TimeZone> z(
      icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(name)));
  icu::UnicodeString id;
  z->getID(id);
  if (id == icu::UnicodeString(UCAL_UNKNOWN_ZONE_ID)) return nullptr;
  return z;
}

std::unique_ptr<icu::TimeZone> resolve_or_throw(const std::string& name) {
  auto z = resolve(name);
  if (!z)
    throw bad_request("TimeZoneNotSupportedException",
                      "A valid TimeZone value must be specified. The following TimeZone value is "
                      "not supported: '" +
                          name + "'.");
  return z;
}

}  // namespace

bool zone_known(const std::string& name) {
  return resolve(name) != nullptr;
}

std::int64_t local_to_utc(const std::string& local, const std::string& zone) {
  auto z = resolve_or_throw(zone);
  int y, mo, d, h = 0, mi = 0, s = 0, n = 0;
  double frac = 0;
  bool ok = std::sscanf(local.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10;
  if (ok && local.size() > 10) {
    int m = 0;
    ok = std::sscanf(local.c_str() + 10, "T%2d:%2d:%2d%n", &h, &mi, &s, &m) == 3;
    std::string rest = ok ? local.substr(10 + static_cast<std::size_t>(m)) : "";
    if (ok && !rest.empty()) {
      ok = rest[0] == '.' && rest.size() > 1 && rest.size() <= 8 &&
           rest.find_first_not_of("0123456789", 1) == std::string::npos;
      if (ok) frac = std::stod("0" + rest);
    }
  }
  if (!ok || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
    throw bad_request("ErrorInvalidRequest",
                      "Cannot convert the literal '" + local + "' to a date and time.");
  UErrorCode status = U_ZERO_ERROR;
  icu::GregorianCalendar cal(*z, status);
  cal.clear();
  cal.set(y, mo - 1, d, h, mi, s);
  UDate at = cal.getTime(status);
  if (U_FAILURE(status))
    throw bad_request("ErrorInvalidRequest", "Cannot convert '" + local + "' in '" + zone + "'.");
  return static_cast<std::int64_t>(at) + static_cast<std::int64_t>(frac * 1000 + 0.5);
}

std::string utc_to_local(std::int64_t ms, const std::string& zone) {
  auto z = resolve_or_throw(zone);
  UErrorCode status = U_ZERO_ERROR;
  icu::GregorianCalendar cal(*z, status);
  cal.setTime(static_cast<UDate>(ms), status);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d0000",
                cal.get(UCAL_YEAR, status), cal.get(UCAL_MONTH, status) + 1,
                cal.get(UCAL_DATE, status), cal.get(UCAL_HOUR_OF_DAY, status),
                cal.get(UCAL_MINUTE, status), cal.get(UCAL_SECOND, status),
                cal.get(UCAL_MILLISECOND, status));
  return buf;
}

bool local_is_midnight(const std::string& local) {
  if (local.size() == 10) return true;
  if (local.size() < 19 || local.compare(10, 9, "T00:00:00") != 0) return false;
  for (std::size_t i = 19; i < local.size(); ++i)
    if (local[i] != '.' && local[i] != '0') return false;
  return true;
}

}  // namespace graph_emulator
