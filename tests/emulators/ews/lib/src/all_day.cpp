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

// The Id attribute of a stored <t:StartTimeZone Id="..."/> field ("" without one).
std::string zone_id_of(const ItemData& item, const std::string& field) {
  const Field* f = item.find(field);
  if (!f) return {};
  auto doc = parse_fragment(f->xml);
  if (!doc) return {};
  auto fields = elements(xmlDocGetRootElement(doc.get()));
  return fields.empty() ? std::string() : attr_or(fields.front(), "Id");
}

// Stored times are UTC with a Z suffix and whole seconds (items.cpp normalizes them).
std::optional<std::int64_t> parse_utc_seconds(const std::string& v) {
  int Y, M, D, h, m, sec;
  char z = 0;
  if (std::sscanf(v.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &Y, &M, &D, &h, &m, &sec, &z) != 7 ||
      z != 'Z')
    return std::nullopt;
  return utc_seconds(Y, M, D, h, m, sec);
}

std::unique_ptr<icu::TimeZone> windows_zone(const std::string& windows_id) {
  if (windows_id.empty() || windows_id == "UTC")
    return std::unique_ptr<icu::TimeZone>(icu::TimeZone::createTimeZone("Etc/UTC"));
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString iana;
  icu::TimeZone::getIDForWindowsID(icu::UnicodeString::fromUTF8(windows_id), nullptr, iana,
                                   status);
  if (U_FAILURE(status) || iana.isEmpty())
    throw ItemError{"ErrorTimeZone", "The time zone '" + windows_id + "' is not valid."};
  return std::unique_ptr<icu::TimeZone>(icu::TimeZone::createTimeZone(iana));
}

// The stored time of a field as ICU's milliseconds since 1970 (nullopt when absent).
std::optional<UDate> time_of(const ItemData& item, const std::string& field) {
  const Field* f = item.find(field);
  if (!f) return std::nullopt;
  auto doc = parse_fragment(f->xml);
  if (!doc) return std::nullopt;
  auto fields = elements(xmlDocGetRootElement(doc.get()));
  if (fields.empty()) return std::nullopt;
  auto seconds = parse_utc_seconds(text(fields.front()));
  if (!seconds) return std::nullopt;
  return static_cast<UDate>(*seconds) * 1000.0;
}

// Midnight of the local day of `at` in `zone`; the next one when `up` and `at` is not one.
UDate midnight(const icu::TimeZone& zone, UDate at, bool up) {
  UErrorCode status = U_ZERO_ERROR;
  icu::GregorianCalendar cal(zone, status);
  cal.setTime(at, status);
  cal.set(UCAL_HOUR_OF_DAY, 0);
  cal.set(UCAL_MINUTE, 0);
  cal.set(UCAL_SECOND, 0);
  cal.set(UCAL_MILLISECOND, 0);
  UDate floor = cal.getTime(status);
  if (up && floor < at) {
    cal.setTime(at, status);
    cal.add(UCAL_DATE, 1, status);
    cal.set(UCAL_HOUR_OF_DAY, 0);
    cal.set(UCAL_MINUTE, 0);
    cal.set(UCAL_SECOND, 0);
    cal.set(UCAL_MILLISECOND, 0);
    floor = cal.getTime(status);
  }
  return U_FAILURE(status) ? at : floor;
}

void put_time(ItemData& item, const std::string& field, UDate ms) {
  item.set(field, "<t:" + field + ">" +
                      format_utc_seconds(static_cast<std::int64_t>(ms / 1000.0)) + "</t:" +
                      field + ">");
}

}  // namespace

std::string context_zone(const xmlNode* envelope) {
  xmlNode* ctx = child(child(envelope, kSoapNs, "Header"), kTNs, "TimeZoneContext");
  return attr_or(child(ctx, kTNs, "TimeZoneDefinition"), "Id");
}

void snap_all_day(ItemData& item, const std::string& context) {
  if (item.kind != "CalendarItem") return;
  const Field* all_day = item.find("IsAllDayEvent");
  if (!all_day || (all_day->xml.find(">true<") == std::string::npos &&
                   all_day->xml.find(">1<") == std::string::npos))
    return;
  std::string start_zone = zone_id_of(item, "StartTimeZone");
  std::string end_zone = zone_id_of(item, "EndTimeZone");
  if (start_zone.empty()) start_zone = context;
  if (end_zone.empty()) end_zone = start_zone;
  auto start_tz = windows_zone(start_zone);
  auto end_tz = windows_zone(end_zone);
  if (auto s = time_of(item, "Start")) put_time(item, "Start", midnight(*start_tz, *s, false));
  if (auto e = time_of(item, "End")) put_time(item, "End", midnight(*end_tz, *e, true));
}

}  // namespace ews_emulator
