#include "zone.hpp"

#include <unicode/timezone.h>
#include <unicode/ucal.h>
#include <unicode/unistr.h>

#include <memory>

namespace crmsync::ews {

Result<std::string> windows_zone_id(const std::string& iana) {
  icu::UnicodeString id;
  if (iana.empty()) {
    // The same zone the rest of crmsync takes for "the machine's" (TZ, else /etc/localtime).
    std::unique_ptr<icu::TimeZone> host(icu::TimeZone::detectHostTimeZone());
    host->getID(id);
    // A machine without a zone setting runs on UTC (as localtime does there).
    if (id == icu::UnicodeString(UCAL_UNKNOWN_ZONE_ID)) return std::string("UTC");
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
                          "' has no Windows zone that Exchange knows; set timezone to a zone "
                          "with the same rules, e.g. a nearby city's");
  std::string out;
  windows.toUTF8String(out);
  return out;
}

}  // namespace crmsync::ews
