// Appointments: SPEC §7's fields on Graph's event. Times are written as wall-clock times in the
// user's zone with its Windows id (as Outlook writes them), so an all-day event's midnights are
// the user's; they are read in UTC (Prefer: outlook.timezone="UTC"), except an all-day event's
// dates, which Graph returns midnight to midnight whatever the zone asked for: those are the
// user's midnights. Organizer and Duration are read only (Duration from Start and End).
#include "codec.hpp"
#include "crmsync/model/mapping.hpp"

namespace crmsync::graph {
namespace {

struct Choice {
  std::string_view store, graph;
};
constexpr Choice kShowAs[] = {
    {"Free", "free"}, {"Tentative", "tentative"}, {"Busy", "busy"}, {"OutOfOffice", "oof"}};

bool known(std::string_view name) {
  for (std::string_view n :
       {"Subject", "Body", "Location", "Importance", "ShowTimeAs", "ReminderMinutesBeforeStart",
        "Start", "End", "AllDayEvent", "RequiredAttendees", "OptionalAttendees", "Organizer",
        "Duration", "Regarding"})
    if (n == name) return true;
  return false;
}

bool any(const std::set<std::string>& changed, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (changed.count(n)) return true;
  return false;
}

Result<UtcTime> time_field(const FieldMap& merged, std::string_view name) {
  const Value* v = field(merged, name);
  if (empty_value(v)) return invalid_field(name, "an appointment needs Start and End");
  const auto* t = std::get_if<UtcTime>(v);
  if (!t) return invalid_field(name, "expected a time");
  return *t;
}

Json zoned(const Zone& zone, UtcTime t, Alloc& a) {
  Json v(rapidjson::kObjectType);
  put(v, "dateTime", str(zone.local_text(t), a), a);
  put(v, "timeZone", str(zone.windows_id(), a), a);
  return v;
}

// A start or end as read: UTC (what the adapter asks for), or the user's own zone; an all-day
// event's date is the user's midnight.
Result<std::optional<UtcTime>> read_time(const Json& v, std::string_view key, bool all_day,
                                         const Zone& zone) {
  const Json* dtz = member(v, key);
  if (!dtz || dtz->IsNull()) return std::optional<UtcTime>();
  std::string dt = text(*dtz, "dateTime");
  std::string tz = text(*dtz, "timeZone");
  if (dt.size() < 19) return Error::Invalid("'" + std::string(key) + "' without a dateTime");
  Result<UtcTime> t = Error::Internal("");
  if (all_day)
    t = zone.from_local(dt.substr(0, 10) + "T00:00:00");
  else if (tz.empty() || tz == "UTC" || tz == "Etc/UTC")
    t = from_utc_text(dt);
  else if (tz == zone.windows_id())
    t = zone.from_local(dt);
  else
    return Error::Invalid("'" + std::string(key) + "' in zone '" + tz.substr(0, 60) +
                          "', neither UTC nor the user's");
  if (!t) return t.error();
  return std::optional<UtcTime>(*t);
}

}  // namespace

Result<void> write_event(const FieldMap& merged, const std::set<std::string>& changed,
                         const CodecContext& ctx, FieldsOut out) {
  auto& a = out.alloc;
  for (const auto& name : changed) {
    if (known(name)) continue;
    if (is_known_store_field(ItemKind::kAppointment, name))
      return invalid_field(name, "not supported by the Graph store");
    return invalid_field(name, "unknown for an appointment");
  }
  // Every event has a start and an end: a create needs them, and nothing clears them.
  for (const char* name : {"Start", "End"})
    if (auto t = time_field(merged, name); !t) return t.error();
  if (const Value* v = field(merged, "Organizer"); changed.count("Organizer") && v)
    CRMSYNC_TRY(check_type("Organizer", *v, "parties"));
  if (const Value* v = field(merged, "Duration"); changed.count("Duration") && v)
    CRMSYNC_TRY(check_type("Duration", *v, "integer"));
  if (changed.count("Subject")) {
    auto t = merged_text(merged, "Subject");
    if (!t) return t.error();
    put(out.body, "subject", str(*t, a), a);
  }
  if (changed.count("Body")) CRMSYNC_TRY(write_body(merged, out));
  if (changed.count("Location")) {
    auto t = merged_text(merged, "Location");
    if (!t) return t.error();
    Json loc(rapidjson::kObjectType);
    put(loc, "displayName", str(*t, a), a);
    put(out.body, "location", std::move(loc), a);
  }
  if (changed.count("Importance")) CRMSYNC_TRY(write_importance(merged, out));
  if (changed.count("ShowTimeAs")) {
    auto t = merged_text(merged, "ShowTimeAs");
    if (!t) return t.error();
    std::string_view wire = t->empty() ? "busy" : "";
    for (const auto& c : kShowAs)
      if (c.store == *t) wire = c.graph;
    if (wire.empty())
      return invalid_field("ShowTimeAs", "not one of Free, Tentative, Busy, OutOfOffice");
    put(out.body, "showAs", str(wire, a), a);
  }
  if (changed.count("ReminderMinutesBeforeStart")) {
    const Value* v = field(merged, "ReminderMinutesBeforeStart");
    if (empty_value(v)) {
      put(out.body, "isReminderOn", Json(false), a);
    } else if (const auto* n = std::get_if<std::int64_t>(v); n && *n >= 0 && *n <= 1'000'000) {
      put(out.body, "reminderMinutesBeforeStart", Json(static_cast<int>(*n)), a);
      put(out.body, "isReminderOn", Json(true), a);
    } else {
      return invalid_field("ReminderMinutesBeforeStart", "expected minutes (0 to 1000000)");
    }
  }
  if (any(changed, {"Start", "End", "AllDayEvent"})) {
    auto start = time_field(merged, "Start");
    if (!start) return start.error();
    auto end = time_field(merged, "End");
    if (!end) return end.error();
    if (end->ms < start->ms) return invalid_field("End", "before Start");
    const Value* all_day = field(merged, "AllDayEvent");
    if (all_day && !is_null(*all_day) && !std::holds_alternative<bool>(*all_day))
      return invalid_field("AllDayEvent", "expected true or false");
    put(out.body, "start", zoned(*ctx.zone, *start, a), a);
    put(out.body, "end", zoned(*ctx.zone, *end, a), a);
    put(out.body, "isAllDay",
        Json(all_day && std::get_if<bool>(all_day) && std::get<bool>(*all_day)), a);
  }
  if (any(changed, {"RequiredAttendees", "OptionalAttendees"})) {
    Json arr(rapidjson::kArrayType);
    for (const char* name : {"RequiredAttendees", "OptionalAttendees"}) {
      const Value* v = field(merged, name);
      if (empty_value(v)) continue;
      auto parties = parties_value(name, *v);
      if (!parties) return parties.error();
      for (const Party& p : *parties) {
        Json att(rapidjson::kObjectType);
        put(att, "type", str(name[0] == 'R' ? "required" : "optional", a), a);
        put(att, "emailAddress", email_address(p, a), a);
        arr.PushBack(att, a);
      }
    }
    put(out.body, "attendees", std::move(arr), a);
  }
  if (changed.count("Regarding")) CRMSYNC_TRY(write_regarding_prop(merged, out));
  return Ok();
}

Result<FieldMap> read_event(const Json& v, const Props& props, const CodecContext& ctx) {
  FieldMap out;
  auto set_text = [&](const char* name, std::string t) {
    if (!t.empty()) out[name] = std::move(t);
  };
  set_text("Subject", text(v, "subject"));
  CRMSYNC_TRY(read_body_and_importance(v, out));
  if (const Json* loc = member(v, "location"); loc && loc->IsObject())
    set_text("Location", text(*loc, "displayName"));
  if (std::string show = text(v, "showAs"); !show.empty()) {
    if (show == "workingElsewhere") show = "busy";
    for (const auto& c : kShowAs)
      if (c.graph == show) out["ShowTimeAs"] = std::string(c.store);
    if (!out.count("ShowTimeAs") && show != "unknown")
      return Error::Invalid("bad showAs '" + show.substr(0, 40) + "'");
  }
  const Json* all_day = member(v, "isAllDay");
  const bool is_all_day = all_day && all_day->IsBool() && all_day->GetBool();
  if (all_day && all_day->IsBool()) out["AllDayEvent"] = is_all_day;
  std::optional<UtcTime> start, end;
  for (const char* key : {"start", "end"}) {
    auto t = read_time(v, key, is_all_day, *ctx.zone);
    if (!t) return t.error();
    (key[0] == 's' ? start : end) = *t;
  }
  if (start) out["Start"] = *start;
  if (end) out["End"] = *end;
  if (start && end && end->ms >= start->ms)
    out["Duration"] = static_cast<std::int64_t>((end->ms - start->ms) / 60'000);
  if (const Json* on = member(v, "isReminderOn"); on && on->IsBool() && on->GetBool())
    if (const Json* m = member(v, "reminderMinutesBeforeStart"); m && m->IsInt())
      out["ReminderMinutesBeforeStart"] = static_cast<std::int64_t>(m->GetInt());
  if (const Json* atts = member(v, "attendees"); atts && atts->IsArray()) {
    PartyList required, optional;
    for (const auto& att : atts->GetArray()) {
      const Json* e = member(att, "emailAddress");
      if (!e || !e->IsObject()) continue;
      std::string type = text(att, "type");
      if (type == "required") required.push_back(party_of(*e));
      if (type == "optional") optional.push_back(party_of(*e));
    }
    if (!required.empty()) out["RequiredAttendees"] = required;
    if (!optional.empty()) out["OptionalAttendees"] = optional;
  }
  if (const Json* org = member(v, "organizer"); org && org->IsObject())
    if (const Json* e = member(*org, "emailAddress"); e && e->IsObject()) {
      Party p = party_of(*e);
      if (!p.address.empty() || !p.name.empty()) out["Organizer"] = PartyList{p};
    }
  CRMSYNC_TRY(read_regarding_prop(props, out));
  return out;
}

}  // namespace crmsync::graph
