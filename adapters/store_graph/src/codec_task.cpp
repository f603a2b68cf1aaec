// Tasks: SPEC §7's task fields on Microsoft To Do's todoTask. Its dates are dateTimeTimeZone
// values: a date is written as that day's midnight in UTC and read back as the nearest midnight
// (To Do keeps a due date at the midnight of the zone it was set in). Regarding travels with
// the CRM link in crmsync's linked resource (codec.cpp), since todoTask has no extended
// properties.
#include "codec.hpp"
#include "crmsync/model/mapping.hpp"

namespace crmsync::graph {
namespace {

struct Status {
  std::string_view store, graph;
};
constexpr Status kStatuses[] = {{"NotStarted", "notStarted"},
                                {"InProgress", "inProgress"},
                                {"Waiting", "waitingOnOthers"},
                                {"Deferred", "deferred"},
                                {"Complete", "completed"}};

constexpr std::string_view kDates[][2] = {{"StartDate", "startDateTime"},
                                          {"DueDate", "dueDateTime"},
                                          {"DateCompleted", "completedDateTime"}};

bool known(std::string_view name) {
  for (const auto& d : kDates)
    if (d[0] == name) return true;
  for (std::string_view n :
       {"Subject", "Body", "Importance", "Status", "ReminderTime", "ReminderSet", "Regarding"})
    if (n == name) return true;
  return false;
}

Json date_time_zone(std::string_view date_time, Alloc& a) {
  Json v(rapidjson::kObjectType);
  put(v, "dateTime", str(date_time, a), a);
  put(v, "timeZone", str("UTC", a), a);
  return v;
}

// A dateTimeTimeZone's instant; zones other than UTC are refused (the adapter asks for UTC).
Result<std::optional<UtcTime>> instant_of(const Json& v, std::string_view key) {
  const Json* dtz = member(v, key);
  if (!dtz || dtz->IsNull()) return std::optional<UtcTime>();
  std::string dt = text(*dtz, "dateTime");
  std::string zone = text(*dtz, "timeZone");
  if (dt.empty()) return std::optional<UtcTime>();
  if (!zone.empty() && zone != "UTC" && zone != "Etc/UTC" && zone != "tzone://Microsoft/Utc")
    return Error::Invalid("'" + std::string(key) + "' in zone '" + zone.substr(0, 60) +
                          "', not UTC");
  auto t = from_utc_text(dt);
  if (!t) return t.error();
  return std::optional<UtcTime>(*t);
}

}  // namespace

Result<void> write_task(const FieldMap& merged, const std::set<std::string>& changed,
                        FieldsOut out) {
  auto& a = out.alloc;
  for (const auto& name : changed) {
    if (known(name)) continue;
    if (is_known_store_field(ItemKind::kTask, name))
      return invalid_field(name, "not supported by the Graph store");
    return invalid_field(name, "unknown for a task");
  }
  auto value = [&](std::string_view name) { return field(merged, name); };
  if (changed.count("Subject")) {
    const Value* v = value("Subject");
    if (empty_value(v)) {
      put(out.body, "title", Json(rapidjson::kNullType), a);
    } else {
      auto t = text_value("Subject", *v);
      if (!t) return t.error();
      put(out.body, "title", str(*t, a), a);
    }
  }
  if (changed.count("Body")) CRMSYNC_TRY(write_body(merged, out));
  if (changed.count("Importance")) CRMSYNC_TRY(write_importance(merged, out));
  if (changed.count("Status")) {
    const Value* v = value("Status");
    std::string_view wire = "notStarted";
    if (!empty_value(v)) {
      auto t = text_value("Status", *v);
      if (!t) return t.error();
      wire = {};
      for (const auto& s : kStatuses)
        if (s.store == *t) wire = s.graph;
      if (wire.empty()) return invalid_field("Status", "not a task status: " + t->substr(0, 40));
    }
    put(out.body, "status", str(wire, a), a);
  }
  for (const auto& d : kDates) {
    if (!changed.count(std::string(d[0]))) continue;
    const Value* v = value(d[0]);
    if (empty_value(v)) {
      put(out.body, d[1], Json(rapidjson::kNullType), a);
    } else if (const auto* date = std::get_if<Date>(v)) {
      put(out.body, d[1], date_time_zone(date->iso() + "T00:00:00.0000000", a), a);
    } else {
      return invalid_field(d[0], "expected a date");
    }
  }
  if (changed.count("ReminderTime")) {
    const Value* v = value("ReminderTime");
    if (empty_value(v)) {
      put(out.body, "reminderDateTime", Json(rapidjson::kNullType), a);
    } else if (const auto* t = std::get_if<UtcTime>(v)) {
      put(out.body, "reminderDateTime", date_time_zone(utc_text(*t), a), a);
    } else {
      return invalid_field("ReminderTime", "expected a time");
    }
  }
  if (changed.count("ReminderSet")) {
    const Value* v = value("ReminderSet");
    const bool* b = v ? std::get_if<bool>(v) : nullptr;
    if (!empty_value(v) && !b) return invalid_field("ReminderSet", "expected true or false");
    put(out.body, "isReminderOn", Json(b && *b), a);
  }
  if (changed.count("Regarding"))  // written in the linked resource (codec.cpp); checked here
    if (const Value* v = value("Regarding"); !empty_value(v))
      if (auto r = reference_wire("Regarding", *v); !r) return r.error();
  return Ok();
}

Result<FieldMap> read_task(const Json& v) {
  FieldMap out;
  if (auto t = opt_text(v, "title"); !t) {
    return t.error();
  } else if (*t && !(*t)->empty()) {
    out["Subject"] = **t;
  }
  CRMSYNC_TRY(read_body_and_importance(v, out));
  if (std::string st = text(v, "status"); !st.empty()) {
    bool found = false;
    for (const auto& s : kStatuses)
      if (s.graph == st) {
        out["Status"] = std::string(s.store);
        found = true;
      }
    if (!found) return Error::Invalid("bad task status '" + st.substr(0, 40) + "'");
  }
  for (const auto& d : kDates) {
    const Json* dtz = member(v, d[1]);
    if (!dtz || dtz->IsNull()) continue;
    std::string dt = text(*dtz, "dateTime");
    if (dt.empty()) continue;
    auto date = date_from_wire(d[0], dt);
    if (!date) return date.error();
    out[std::string(d[0])] = *date;
  }
  auto reminder = instant_of(v, "reminderDateTime");
  if (!reminder) return reminder.error();
  if (*reminder) out["ReminderTime"] = **reminder;
  if (const Json* on = member(v, "isReminderOn"); on && on->IsBool())
    out["ReminderSet"] = on->GetBool();
  return out;
}

}  // namespace crmsync::graph
