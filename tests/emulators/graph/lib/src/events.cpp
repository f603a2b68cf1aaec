// Calendar specifics: start/end in their time zones (Windows or IANA names), all-day events
// at midnight, series masters with their occurrences (daily, weekly, absolute/relative monthly
// and yearly patterns) and exceptions, calendarView and calendarView/delta over a window.
#include <algorithm>
#include <regex>

#include "service.hpp"
#include "tz.hpp"

namespace graph_emulator {

namespace {

using Alloc = rapidjson::Document::AllocatorType;

const std::regex kOccurrence(R"(^(AAMkA[A-Za-z0-9_-]*=*)_(\d{1,15})$)");

int weekday_index(const std::string& name) {  // sunday = 0
  static const char* days[] = {"sunday",   "monday", "tuesday", "wednesday",
                               "thursday", "friday", "saturday"};
  for (int i = 0; i < 7; ++i)
    if (iequal(name, days[i])) return i;
  return -1;
}

int weekday_of(std::int64_t day) {  // 1970-01-01 was a Thursday
  return static_cast<int>(((day % 7) + 7 + 4) % 7);
}

std::int64_t parse_day(const std::string& date) {
  int y = 0, m = 0, d = 0;
  if (std::sscanf(date.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 ||
      d > 31)
    throw bad_request("ErrorInvalidRequest", "Invalid date '" + date + "' in the recurrence.");
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

std::string day_string(std::int64_t day) {
  int y;
  unsigned m, d;
  civil_from_days(day, y, m, d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

int days_in_month(int y, unsigned m) {
  unsigned nm = m == 12 ? 1 : m + 1;
  int ny = m == 12 ? y + 1 : y;
  return static_cast<int>(days_from_civil(ny, nm, 1) - days_from_civil(y, m, 1));
}

// The day of the `index` (first..fourth, last) weekday among `days` in month (y, m).
std::optional<std::int64_t> relative_day(int y, unsigned m, const std::vector<int>& days,
                                         const std::string& index) {
  std::vector<std::int64_t> hits;
  std::int64_t first = days_from_civil(y, m, 1);
  for (int i = 0; i < days_in_month(y, m); ++i)
    if (std::find(days.begin(), days.end(), weekday_of(first + i)) != days.end())
      hits.push_back(first + i);
  if (hits.empty()) return std::nullopt;
  static const char* order[] = {"first", "second", "third", "fourth"};
  for (std::size_t i = 0; i < 4; ++i)
    if (iequal(index, order[i])) return i < hits.size() ? std::optional(hits[i]) : std::nullopt;
  return hits.back();  // "last"
}

const rapidjson::Value& member(const rapidjson::Value& v, const char* k) {
  static const rapidjson::Value null;
  return v.IsObject() && v.HasMember(k) ? v[k] : null;
}

int int_member(const rapidjson::Value& v, const char* k, int fallback) {
  const auto& m = member(v, k);
  return m.IsInt() ? m.GetInt() : fallback;
}

void check_zoned(const rapidjson::Value& d, const char* k) {
  if (!d.HasMember(k) || !d[k].IsObject())
    throw bad_request("ErrorInvalidRequest",
                      std::string("An event needs a \"") + k + "\" with dateTime and timeZone.");
}

Item occurrence_item(const Item& master, const rapidjson::Value& data, const Instance& in) {
  rapidjson::Document d;
  d.CopyFrom(data, d.GetAllocator());
  auto& a = d.GetAllocator();
  std::string zone = str_member(d["start"], "timeZone");
  std::string end_zone = str_member(d["end"], "timeZone");
  put_string(d["start"], "dateTime", utc_to_local(in.start_ms, zone), a);
  put_string(d["end"], "dateTime", utc_to_local(in.end_ms, end_zone), a);
  put_string(d, "type", "occurrence", a);
  put_string(d, "seriesMasterId", master.id, a);
  put_string(d, "originalStart", format_utc(in.original_start_ms, 0), a);
  rapidjson::Value null_value;
  put_value(d, "recurrence", null_value, a);
  rapidjson::Value null_tx;
  put_value(d, "transactionId", null_tx, a);
  d.RemoveMember("cancelledOccurrences");
  Item it = master;
  it.id = in.id;
  it.data = to_json(d);
  return it;
}

std::pair<std::int64_t, std::int64_t> window(const Ctx& c) {
  std::string s = c.q.get("startdatetime"), e = c.q.get("enddatetime");
  for (const auto& [k, v] : c.q.params) {
    if (iequal(k, "startDateTime")) s = v;
    if (iequal(k, "endDateTime")) e = v;
  }
  if (s.empty() || e.empty())
    throw bad_request("ErrorInvalidParameter",
                      "This request requires a time window specified by the query string "
                      "parameters StartDateTime and EndDateTime.");
  auto from = parse_iso_utc(s), to = parse_iso_utc(e);
  if (!from || !to)
    throw bad_request("ErrorInvalidParameter", "StartDateTime and EndDateTime must be ISO 8601.");
  return {*from, *to};
}

bool overlaps(std::int64_t s, std::int64_t e, std::int64_t from, std::int64_t to) {
  return s < to && (e > from || (e == s && s >= from));
}

}  // namespace

bool is_occurrence_id(const std::string& id) {
  return std::regex_match(id, kOccurrence);
}

std::int64_t event_time(const rapidjson::Value& data, const char* which) {
  const auto& v = member(data, which);
  std::string zone = str_member(v, "timeZone");
  return local_to_utc(str_member(v, "dateTime"), zone.empty() ? "UTC" : zone);
}

void prepare_event(Ctx&, rapidjson::Document& d, bool create) {
  auto& a = d.GetAllocator();
  check_zoned(d, "start");
  check_zoned(d, "end");
  for (const char* k : {"start", "end"}) {
    auto& v = d[k];
    std::string zone = str_member(v, "timeZone");
    if (zone.empty()) zone = "UTC";
    std::string local = str_member(v, "dateTime");
    bool midnight = local_is_midnight(local);
    std::int64_t at = local_to_utc(local, zone);
    put_string(v, "dateTime", utc_to_local(at, zone), a);
    put_string(v, "timeZone", zone, a);
    bool all_day = d.HasMember("isAllDay") && d["isAllDay"].IsBool() && d["isAllDay"].GetBool();
    if (all_day && !midnight)
      throw bad_request("ErrorInvalidRequest",
                        "Your request can't be completed. If the event is an all-day event, its "
                        "start and end must be at midnight in the event's time zone.");
    put_string(d, k == std::string("start") ? "originalStartTimeZone" : "originalEndTimeZone", zone,
               a);
  }
  std::int64_t start = event_time(d, "start"), end = event_time(d, "end");
  if (end < start)
    throw bad_request("ErrorInvalidRequest", "The end of an event cannot be before its start.");
  bool all_day = d.HasMember("isAllDay") && d["isAllDay"].IsBool() && d["isAllDay"].GetBool();
  if (all_day && end - start < 24 * 3600 * 1000)
    throw bad_request("ErrorInvalidRequest",
                      "The duration of an event marked as All day must be at least 24 hours.");
  const auto& rec = member(d, "recurrence");
  std::string type = str_member(d, "type");
  if (rec.IsObject()) {
    const auto& pattern = member(rec, "pattern");
    auto& range = d["recurrence"]["range"];
    if (!pattern.IsObject() || !range.IsObject() || str_member(pattern, "type").empty() ||
        str_member(range, "type").empty())
      throw bad_request("ErrorInvalidRequest",
                        "A recurrence needs a pattern and a range, each with a type.");
    if (str_member(range, "startDate").empty())
      put_string(range, "startDate", str_member(d["start"], "dateTime").substr(0, 10), a);
    std::string rtype = str_member(range, "type");
    if (rtype == "numbered" && int_member(range, "numberOfOccurrences", 0) < 1)
      throw bad_request("ErrorInvalidRequest", "A numbered recurrence needs numberOfOccurrences.");
    if (rtype == "endDate" &&
        (str_member(range, "endDate").empty() ||
         parse_day(str_member(range, "endDate")) < parse_day(str_member(range, "startDate"))))
      throw bad_request("ErrorInvalidRequest", "The recurrence's endDate is before its startDate.");
    if (type != "exception" && type != "occurrence") type = "seriesMaster";
  } else if (type.empty() || type == "seriesMaster") {
    type = "singleInstance";
  }
  put_string(d, "type", type, a);
  // As user-post-events.md answers: attendees get a status and a type; a location gets its
  // locationType and uniqueId, and stands as the one member of locations unless those are given.
  if (d.HasMember("attendees") && d["attendees"].IsArray())
    for (auto& at : d["attendees"].GetArray()) {
      if (!at.HasMember("type") || at["type"].IsNull()) put_string(at, "type", "required", a);
      if (!at.HasMember("status") || at["status"].IsNull()) {
        rapidjson::Value st(rapidjson::kObjectType);
        st.AddMember("response", "none", a);
        st.AddMember("time", "0001-01-01T00:00:00Z", a);
        put_value(at, "status", st, a);
      }
    }
  if (d.HasMember("location") && d["location"].IsObject()) {
    auto& loc = d["location"];
    std::string name = str_member(loc, "displayName");
    if (str_member(loc, "locationType").empty()) put_string(loc, "locationType", "default", a);
    if (str_member(loc, "uniqueIdType").empty()) {
      put_string(loc, "uniqueId", name, a);
      put_string(loc, "uniqueIdType", "private", a);
    }
    if (!d.HasMember("locations") || d["locations"].IsNull()) {
      rapidjson::Value one(rapidjson::kObjectType);
      one.AddMember("displayName", rapidjson::Value(name.c_str(), a), a);
      one.AddMember("locationType", "default", a);
      one.AddMember("uniqueIdType", "unknown", a);
      rapidjson::Value all(rapidjson::kArrayType);
      all.PushBack(one, a);
      put_value(d, "locations", all, a);
    }
  }
  if (!create) return;
  auto dflt = [&](const char* k, rapidjson::Value v) {
    if (!d.HasMember(k) || d[k].IsNull()) put_value(d, k, v, a);
  };
  dflt("isAllDay", rapidjson::Value(false));
  dflt("isCancelled", rapidjson::Value(false));
  dflt("isOrganizer", rapidjson::Value(true));
  dflt("isDraft", rapidjson::Value(false));
  dflt("isReminderOn", rapidjson::Value(true));
  dflt("isOnlineMeeting", rapidjson::Value(false));
  dflt("hideAttendees", rapidjson::Value(false));
  dflt("hasAttachments", rapidjson::Value(false));
  dflt("allowNewTimeProposals", rapidjson::Value(true));
  dflt("responseRequested", rapidjson::Value(true));
  dflt("reminderMinutesBeforeStart", rapidjson::Value(15));
  dflt("showAs", rapidjson::Value("busy"));
  dflt("importance", rapidjson::Value("normal"));
  dflt("sensitivity", rapidjson::Value("normal"));
  dflt("onlineMeetingProvider", rapidjson::Value("unknown"));
  rapidjson::Value status(rapidjson::kObjectType);
  status.AddMember("response", "organizer", a);
  status.AddMember("time", "0001-01-01T00:00:00Z", a);
  dflt("responseStatus", std::move(status));
}

std::vector<Instance> instances(const rapidjson::Value& master, const std::string& master_id,
                                std::int64_t from, std::int64_t to) {
  std::vector<Instance> out;
  const auto& rec = member(master, "recurrence");
  const auto& pattern = member(rec, "pattern");
  const auto& range = member(rec, "range");
  if (!pattern.IsObject() || !range.IsObject()) return out;
  std::string zone = str_member(range, "recurrenceTimeZone");
  if (zone.empty()) zone = str_member(member(master, "start"), "timeZone");
  std::int64_t start = event_time(master, "start"), end = event_time(master, "end");
  std::string local = utc_to_local(start, zone);
  std::string time_of_day = local.substr(10);  // "T09:00:00.0000000"
  std::int64_t first = parse_day(str_member(range, "startDate"));
  std::string rtype = str_member(range, "type");
  std::int64_t last = rtype == "endDate" ? parse_day(str_member(range, "endDate")) : INT64_MAX;
  int count = rtype == "numbered" ? int_member(range, "numberOfOccurrences", 1) : INT32_MAX;
  int interval = std::max(1, int_member(pattern, "interval", 1));
  std::string ptype = str_member(pattern, "type");
  std::vector<int> days;
  if (member(pattern, "daysOfWeek").IsArray())
    for (const auto& d : member(pattern, "daysOfWeek").GetArray())
      if (d.IsString() && weekday_index(d.GetString()) >= 0)
        days.push_back(weekday_index(d.GetString()));
  int first_dow = weekday_index(str_member(pattern, "firstDayOfWeek"));
  if (first_dow < 0) first_dow = 0;
  int y0;
  unsigned m0, d0;
  civil_from_days(first, y0, m0, d0);
  int day_of_month = int_member(pattern, "dayOfMonth", static_cast<int>(d0));
  int month = int_member(pattern, "month", static_cast<int>(m0));
  std::string index = str_member(pattern, "index");
  if (index.empty()) index = "first";
  std::vector<std::string> cancelled;
  if (member(master, "cancelledOccurrences").IsArray())
    for (const auto& c : member(master, "cancelledOccurrences").GetArray())
      if (c.IsString()) cancelled.push_back(c.GetString());

  int made = 0;
  auto emit = [&](std::int64_t day) -> bool {  // false: stop
    if (day < first) return true;
    if (day > last || made >= count) return false;
    ++made;
    std::int64_t s = local_to_utc(day_string(day) + time_of_day, zone);
    if (s >= to) return false;
    Instance in{master_id + "_" + std::to_string(s), s, s + (end - start), s, false};
    in.cancelled = std::find(cancelled.begin(), cancelled.end(), in.id) != cancelled.end();
    if (overlaps(in.start_ms, in.end_ms, from, to)) out.push_back(in);
    return true;
  };
  const int kCap = 20000;  // steps; a series beyond it is cut (the emulator's limit)
  if (ptype == "daily") {
    for (int k = 0; k < kCap; ++k)
      if (!emit(first + static_cast<std::int64_t>(k) * interval)) break;
  } else if (ptype == "weekly") {
    if (days.empty()) days.push_back(weekday_of(first));
    std::sort(days.begin(), days.end(),
              [&](int a, int b) { return (a - first_dow + 7) % 7 < (b - first_dow + 7) % 7; });
    std::int64_t week = first - ((weekday_of(first) - first_dow + 7) % 7);
    bool go = true;
    for (int k = 0; k < kCap && go; ++k, week += 7 * interval)
      for (int d : days)
        if (!(go = emit(week + (d - first_dow + 7) % 7))) break;
  } else if (ptype == "absoluteMonthly" || ptype == "relativeMonthly" ||
             ptype == "absoluteYearly" || ptype == "relativeYearly") {
    bool yearly = ptype.find("Yearly") != std::string::npos;
    bool relative = ptype.rfind("relative", 0) == 0;
    int y = y0, m = yearly ? month : static_cast<int>(m0);
    for (int k = 0; k < kCap; ++k) {
      std::optional<std::int64_t> day;
      if (relative) {
        day = relative_day(y, static_cast<unsigned>(m), days, index);
      } else if (day_of_month <= days_in_month(y, static_cast<unsigned>(m))) {
        day = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(day_of_month));
      }
      if (day && !emit(*day)) break;
      if (yearly) {
        y += interval;
      } else {
        m += interval;
        while (m > 12) m -= 12, ++y;
      }
    }
  }
  return out;
}

emulator::Reply calendar_view(Ctx& c, Service& s, bool is_delta, int& sync_state_faults) {
  Container box = s.store().containers(c.user.id, "calendar").front();
  std::string link = c.owner_path + "/calendarView/delta";
  std::string collection = "event:" + box.id;
  DeltaRound round;
  if (is_delta) {
    round = begin_delta(c, s, "event", collection, link, sync_state_faults);
    std::string bad;
    for (const char* o : {"$select", "$expand", "$filter", "$orderby", "$search", "$top", "$skip"})
      if (c.q.has(o)) bad += (bad.empty() ? "" : ", ") + std::string(o);
    if (!bad.empty())
      throw bad_request("ErrorInvalidUrlQuery",
                        "The following parameters are not supported with change tracking over "
                        "the 'CalendarView' resource: '" +
                            bad + "'.");
  } else {
    c.q = parse_query(c.req, "event", s.csdl());
    if (c.q.has("$filter"))
      throw bad_request("ErrorInvalidUrlQueryFilter",
                        "The emulator takes no $filter on calendarView.");
  }
  auto [from, to] = window(c);
  auto exception_exists = [&](const std::string& id) {
    auto it = s.store().item(c.user.id, id);
    return it.has_value();
  };
  std::vector<std::pair<std::int64_t, Item>> shown;  // (start, item) for the plain view
  std::vector<DeltaEntry> entries;
  auto add = [&](std::int64_t seq, const Item& it) {
    rapidjson::StringBuffer sb;
    Writer w(sb);
    render_item(w, c, s.csdl(), it);
    entries.push_back({seq, sb.GetString()});
  };
  std::vector<Item> items =
      is_delta ? s.store().changed(c.user.id, "event", box.id, round.after, round.to)
               : s.store().items(c.user.id, "event", box.id);
  for (const auto& it : items) {
    rapidjson::Document d;
    d.Parse(it.data.c_str(), it.data.size());
    std::string type = str_member(d, "type");
    if (it.deleted) {
      if (round.initial) continue;
      entries.push_back({it.seq, removed_entry("event", it.id)});
      if (type == "seriesMaster")
        for (const auto& in : instances(d, it.id, from, to))
          entries.push_back({it.seq, removed_entry("event", in.id)});
      continue;
    }
    if (type == "seriesMaster") {
      if (is_delta) add(it.seq, it);
      for (const auto& in : instances(d, it.id, from, to)) {
        if (exception_exists(in.id)) continue;
        if (in.cancelled) {
          if (is_delta && !round.initial)
            entries.push_back({it.seq, removed_entry("event", in.id)});
          continue;
        }
        Item occ = occurrence_item(it, d, in);
        if (is_delta)
          add(it.seq, occ);
        else
          shown.push_back({in.start_ms, occ});
      }
      continue;
    }
    std::int64_t st = event_time(d, "start"), en = event_time(d, "end");
    if (!overlaps(st, en, from, to)) continue;  // outside the window: not reported
    if (is_delta)
      add(it.seq, it);
    else
      shown.push_back({st, it});
  }
  if (is_delta) return finish_delta(c, s, "event", collection, round, entries, link);
  std::stable_sort(shown.begin(), shown.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Item> page;
  for (auto& [start, it] : shown) page.push_back(std::move(it));
  return page_reply(c, s, "calendarView", page);
}

emulator::Reply event_instances(Ctx& c, Service& s, const std::string& id) {
  const auto& k = kind_info("event");
  c.q = parse_query(c.req, "event", s.csdl());
  if (c.q.has("$filter"))
    throw bad_request("ErrorInvalidUrlQueryFilter", "The emulator takes no $filter on instances.");
  Item master = load_item(c, s, k, id);
  auto [from, to] = window(c);
  rapidjson::Document d;
  d.Parse(master.data.c_str(), master.data.size());
  std::vector<std::pair<std::int64_t, Item>> shown;
  if (str_member(d, "type") == "seriesMaster") {
    for (const auto& in : instances(d, master.id, from, to)) {
      if (in.cancelled) continue;
      if (auto ex = s.store().item(c.user.id, in.id)) {
        rapidjson::Document xd;
        xd.Parse(ex->data.c_str(), ex->data.size());
        shown.push_back({event_time(xd, "start"), *ex});
      } else {
        shown.push_back({in.start_ms, occurrence_item(master, d, in)});
      }
    }
  } else if (overlaps(event_time(d, "start"), event_time(d, "end"), from, to)) {
    shown.push_back({event_time(d, "start"), master});
  }
  std::stable_sort(shown.begin(), shown.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Item> page;
  for (auto& [start, it] : shown) page.push_back(std::move(it));
  return page_reply(c, s, "events('" + master.id + "')/instances", page);
}

// /events/{occurrence id}: an occurrence of a series; PATCH makes it an exception, DELETE
// cancels it (the master's cancelledOccurrences, a change of the master).
emulator::Reply event_occurrence(Ctx& c, Service& s, const std::string& id) {
  const auto& k = kind_info("event");
  if (s.store().item(c.user.id, id)) {  // already an exception: an item of its own
    if (c.method == "GET") return get_item(c, s, k, id);
    if (c.method == "PATCH") return patch_item(c, s, k, id);
    if (c.method != "DELETE")
      throw GraphError(405, "BadRequest", "The OData request is not supported.");
  }
  std::smatch m;
  std::regex_match(id, m, kOccurrence);
  std::string master_id = m[1];
  std::int64_t at = std::stoll(m[2]);
  Item master = load_item(c, s, k, master_id);
  rapidjson::Document md;
  md.Parse(master.data.c_str(), master.data.size());
  std::optional<Instance> found;
  for (const auto& in : instances(md, master.id, at, at + 1))
    if (in.id == id && !in.cancelled) found = in;
  if (!found) throw not_found();
  c.q = parse_query(c.req, "event", s.csdl());
  Item occ = occurrence_item(master, md, *found);
  if (c.method == "GET") {
    RenderOptions o{true, context_url(c, "events/$entity"), false};
    return json_reply(c, 200, entity_json(c, s.csdl(), occ, o));
  }
  if (c.method == "DELETE") {
    check_if_match(c.req, master);
    auto& a = md.GetAllocator();
    if (!md.HasMember("cancelledOccurrences"))
      md.AddMember("cancelledOccurrences", rapidjson::Value(rapidjson::kArrayType), a);
    md["cancelledOccurrences"].PushBack(rapidjson::Value(id.c_str(), a), a);
    if (auto ex = s.store().item(c.user.id, id)) s.store().remove(*ex);
    master.data = to_json(md);
    s.store().update(master);
    auto r = json_reply(c, 204, "");
    r.content_type = "text/plain";
    return r;
  }
  if (c.method != "PATCH")
    throw GraphError(405, "BadRequest", "The OData request is not supported.");
  auto patch = parse_body(c.req, s.csdl(), "event", {{"singleValueExtendedProperties"}, true});
  if (patch.HasMember("recurrence") && !patch["recurrence"].IsNull())
    throw bad_request("ErrorInvalidRequest", "An occurrence cannot have a recurrence of its own.");
  rapidjson::Document d;
  d.Parse(occ.data.c_str(), occ.data.size());
  auto& a = d.GetAllocator();
  for (auto p = patch.MemberBegin(); p != patch.MemberEnd(); ++p) {
    std::string key = p->name.GetString();
    if (key.find('@') != std::string::npos || key == "id" || key == "changeKey") continue;
    if (key == "singleValueExtendedProperties") {
      merge_ext_props(d, p->value, a);
      continue;
    }
    rapidjson::Value v;
    v.CopyFrom(p->value, a);
    put_value(d, key, v, a);
  }
  put_string(d, "type", "exception", a);
  prepare_item(c, s, k, d, occ, false);
  occ.data = to_json(d);
  occ.tx.clear();
  s.store().insert(occ);
  RenderOptions o{true, context_url(c, "events/$entity"), false};
  return json_reply(c, 200, entity_json(c, s.csdl(), occ, o));
}

}  // namespace graph_emulator
