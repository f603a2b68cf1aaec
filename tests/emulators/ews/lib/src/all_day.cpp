#include "all_day.hpp"

#include <unicode/gregocal.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "util.hpp"
#include "xml.hpp"

namespace ews_emulator {

namespace {

// The element of a stored top-level field, parsed ("" / nullopt readers below when absent).
struct StoredField {
  DocPtr doc;
  xmlNode* element = nullptr;
};
StoredField stored(const ItemData& item, const std::string& name) {
  const Field* f = item.find(name);
  if (!f) return {};
  StoredField out{parse_fragment(f->xml)};
  if (out.doc) {
    auto fields = elements(xmlDocGetRootElement(out.doc.get()));
    if (!fields.empty()) out.element = fields.front();
  }
  return out;
}

// A stored time (UTC with a Z suffix and whole seconds: items.cpp normalizes them) as ICU's
// milliseconds since 1970.
std::optional<UDate> time_of(const ItemData& item, const std::string& field) {
  auto f = stored(item, field);
  if (!f.element) return std::nullopt;
  int Y, M, D, h, m, sec;
  char z = 0;
  if (std::sscanf(text(f.element).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &Y, &M, &D, &h, &m, &sec,
                  &z) != 7 ||
      z != 'Z')
    return std::nullopt;
  return static_cast<UDate>(utc_seconds(Y, M, D, h, m, sec)) * 1000.0;
}

// "" is UTC, as Exchange takes a request without a zone.
std::unique_ptr<icu::TimeZone> windows_zone(const std::string& windows_id) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString iana;
  icu::TimeZone::getIDForWindowsID(
      icu::UnicodeString::fromUTF8(windows_id.empty() ? "UTC" : windows_id), nullptr, iana, status);
  if (U_FAILURE(status) || iana.isEmpty())
    throw ItemError{"ErrorTimeZone", "The time zone '" + windows_id + "' is not valid."};
  return std::unique_ptr<icu::TimeZone>(icu::TimeZone::createTimeZone(iana));
}

// Midnight of the local day of `at` in `zone`; with `up`, the next one unless `at` is one.
UDate midnight(const icu::TimeZone& zone, UDate at, bool up) {
  UErrorCode status = U_ZERO_ERROR;
  icu::GregorianCalendar cal(zone, status);
  cal.setTime(at, status);
  for (auto f : {UCAL_HOUR_OF_DAY, UCAL_MINUTE, UCAL_SECOND, UCAL_MILLISECOND}) cal.set(f, 0);
  if (up && cal.getTime(status) < at) cal.add(UCAL_DATE, 1, status);
  UDate out = cal.getTime(status);
  return U_FAILURE(status) ? at : out;
}

void put_time(ItemData& item, const std::string& field, UDate ms) {
  item.set(field, "<t:" + field + ">" + format_utc_seconds(static_cast<std::int64_t>(ms / 1000.0)) +
                      "</t:" + field + ">");
}

}  // namespace

std::string context_zone(const xmlNode* envelope) {
  xmlNode* ctx = child(child(envelope, kSoapNs, "Header"), kTNs, "TimeZoneContext");
  return attr_or(child(ctx, kTNs, "TimeZoneDefinition"), "Id");
}

void snap_all_day(ItemData& item, const std::string& context) {
  if (item.kind != "CalendarItem") return;
  // Booleans are stored canonically (items.cpp).
  auto all_day = stored(item, "IsAllDayEvent");
  if (!all_day.element || text(all_day.element) != "true") return;
  std::string start_zone = attr_or(stored(item, "StartTimeZone").element, "Id");
  std::string end_zone = attr_or(stored(item, "EndTimeZone").element, "Id");
  if (start_zone.empty()) start_zone = context;
  if (end_zone.empty()) end_zone = start_zone;
  auto start_tz = windows_zone(start_zone);
  auto end_tz = windows_zone(end_zone);
  if (auto s = time_of(item, "Start")) put_time(item, "Start", midnight(*start_tz, *s, false));
  if (auto e = time_of(item, "End")) put_time(item, "End", midnight(*end_tz, *e, true));
}

}  // namespace ews_emulator
