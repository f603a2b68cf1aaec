// Calendar: events CRUD, transactionId, time zones, all-day rules, series, calendarView delta.
#include <set>

#include "graph_test.hpp"

using graph_test::check_entities;
using graph_test::Emulator;
using graph_test::str;

namespace {

std::string event_body(const std::string& subject, const std::string& start, const std::string& end,
                       const std::string& zone, const std::string& extra = "") {
  return "{\"subject\":" + graph_test::json_quote(subject) + ",\"start\":{\"dateTime\":\"" + start +
         "\",\"timeZone\":\"" + zone + "\"},\"end\":{\"dateTime\":\"" + end + "\",\"timeZone\":\"" +
         zone + "\"}" + extra + "}";
}

std::string window(const std::string& from, const std::string& to) {
  return "startDateTime=" + from + "&endDateTime=" + to;
}

// The ids (live and removed) of one whole delta round, and its deltaLink.
struct Round {
  std::set<std::string> live, removed;
  std::vector<std::string> types;
  std::string delta_link;
};
Round run_round(Emulator& e, const std::string& first) {
  Round r;
  auto page = first.rfind("http", 0) == 0 ? e.follow(first) : e.call("GET", first);
  for (int i = 0; i < 20; ++i) {
    INFO(page.body);
    REQUIRE(page.status == 200);
    auto j = page.json();
    check_entities(j, "event");
    for (const auto& v : j["value"].GetArray()) {
      (v.HasMember("@removed") ? r.removed : r.live).insert(str(v, "id"));
      if (!v.HasMember("@removed")) r.types.push_back(str(v, "type"));
    }
    if (j.HasMember("@odata.deltaLink")) {
      r.delta_link = str(j, "@odata.deltaLink");
      return r;
    }
    page = e.follow(str(j, "@odata.nextLink"));
  }
  FAIL("no deltaLink");
  return r;
}

}  // namespace

TEST_CASE("events: CRUD in the primary calendar; transactionId makes a retried POST idempotent",
          "[graph][calendar]") {
  REQUIRE_CSDL();
  Emulator e;
  auto cal = e.call("GET", "/v1.0/me/calendar").json();
  check_entities(cal, "calendar");
  std::string body =
      event_body("Plan", "2027-04-15T12:00:00", "2027-04-15T14:00:00", "Pacific Standard Time",
                 ",\"transactionId\":\"7E163156-7762-4BEB-A1C6-729EA81755A7\"");
  auto first = e.call("POST", "/v1.0/me/events", body);
  INFO(first.body);
  REQUIRE(first.status == 201);
  auto ev = first.json();
  check_entities(ev, "event");
  CHECK(str(ev, "type") == "singleInstance");
  CHECK(str(ev, "transactionId") == "7E163156-7762-4BEB-A1C6-729EA81755A7");
  CHECK(str(ev, "originalStartTimeZone") == "Pacific Standard Time");
  // Without a Prefer header, UTC with seven fractional digits (PDT is UTC-7 in April).
  CHECK(str(ev["start"], "dateTime") == "2027-04-15T19:00:00.0000000");
  CHECK(str(ev["start"], "timeZone") == "UTC");
  auto again = e.call("POST", "/v1.0/me/calendar/events", body);
  REQUIRE(again.status == 201);
  CHECK(str(again.json(), "id") == str(ev, "id"));
  CHECK(e.call("GET", "/v1.0/me/events").json()["value"].Size() == 1);

  std::string id = str(ev, "id");
  // event.md: the transactionId cannot change; it is only returned when an app set it.
  auto tx = e.call("PATCH", "/v1.0/me/events/" + id, R"({"transactionId":"another"})");
  CHECK(tx.status == 400);
  auto plain = e.call("POST", "/v1.0/me/events",
                      event_body("No tx", "2027-04-16T12:00:00", "2027-04-16T13:00:00", "UTC",
                                 R"(,"location":{"displayName":"Harry's Bar"},
                                    "attendees":[{"emailAddress":{"address":"sam@contoso.com"},
                                                  "type":"Required"}])"));
  REQUIRE(plain.status == 201);
  auto pj = plain.json();
  check_entities(pj, "event");
  CHECK_FALSE(pj.HasMember("transactionId"));
  CHECK(str(pj["attendees"][0], "type") == "required");
  CHECK(str(pj["attendees"][0]["status"], "response") == "none");
  CHECK(str(pj["location"], "locationType") == "default");
  CHECK(str(pj["locations"][0], "displayName") == "Harry's Bar");
  REQUIRE(e.call("DELETE", "/v1.0/me/events/" + str(pj, "id")).status == 204);
  auto p = e.call("PATCH", "/v1.0/me/events/" + id, R"({"subject":"Plan B","showAs":"Tentative"})");
  REQUIRE(p.status == 200);
  auto patched = p.json();
  check_entities(patched, "event");
  CHECK(str(patched, "showAs") == "tentative");  // enum values come back in Graph's spelling
  auto stale = e.call("PATCH", "/v1.0/me/events/" + id, R"({"subject":"x"})",
                      {{"If-Match", str(ev, "@odata.etag")}});
  CHECK(stale.status == 412);
  CHECK(e.call("DELETE", "/v1.0/me/events/" + id).status == 204);
  // Once deleted, the same transactionId creates a new event.
  auto third = e.call("POST", "/v1.0/me/events", body);
  REQUIRE(third.status == 201);
  CHECK(str(third.json(), "id") != id);
}

TEST_CASE("events: Prefer outlook.timezone (Windows and IANA names) and all-day at midnight",
          "[graph][calendar][timezone]") {
  REQUIRE_CSDL();
  Emulator e;
  auto r =
      e.call("POST", "/v1.0/me/events",
             event_body("Berlin", "2027-01-10T09:30:00", "2027-01-10T10:00:00", "Europe/Berlin"));
  REQUIRE(r.status == 201);
  std::string id = str(r.json(), "id");
  auto as = [&](const std::string& zone) {
    auto g = e.call("GET", "/v1.0/me/events/" + id, "",
                    {{"Prefer", "outlook.timezone=\"" + zone + "\""}});
    INFO(g.body);
    REQUIRE(g.status == 200);
    auto j = g.json();
    check_entities(j, "event");
    CHECK(str(j["start"], "timeZone") == zone);
    return str(j["start"], "dateTime");
  };
  CHECK(as("Pacific Standard Time") == "2027-01-10T00:30:00.0000000");
  CHECK(as("America/New_York") == "2027-01-10T03:30:00.0000000");
  CHECK(as("W. Europe Standard Time") == "2027-01-10T09:30:00.0000000");
  auto unknown =
      e.call("GET", "/v1.0/me/events/" + id, "", {{"Prefer", "outlook.timezone=\"Mars/Olympus\""}});
  CHECK(unknown.status == 400);
  auto bad_zone = e.call("POST", "/v1.0/me/events",
                         event_body("x", "2027-01-10T09:00:00", "2027-01-10T10:00:00", "Nowhere"));
  CHECK(bad_zone.status == 400);
  CHECK(str(bad_zone.json()["error"], "code") == "TimeZoneNotSupportedException");

  // All-day: midnight in the given zone, at least one day.
  const std::string all_day = ",\"isAllDay\":true";
  auto ok = e.call("POST", "/v1.0/me/events",
                   event_body("Holiday", "2027-05-01T00:00:00", "2027-05-02T00:00:00",
                              "Tokyo Standard Time", all_day));
  INFO(ok.body);
  REQUIRE(ok.status == 201);
  auto ad = ok.json();
  check_entities(ad, "event");
  CHECK(ad["isAllDay"].GetBool());
  CHECK(str(ad["start"], "dateTime") == "2027-05-01T00:00:00.0000000");  // dates do not shift
  for (auto [s, en] : {std::pair{"2027-05-01T09:00:00", "2027-05-02T00:00:00"},
                       std::pair{"2027-05-01T00:00:00", "2027-05-01T12:00:00"},
                       std::pair{"2027-05-01T00:00:00", "2027-05-01T00:00:00"}}) {
    auto bad =
        e.call("POST", "/v1.0/me/events", event_body("Bad", s, en, "Tokyo Standard Time", all_day));
    CHECK(bad.status == 400);
  }
  auto to_timed = e.call("PATCH", "/v1.0/me/events/" + str(ad, "id"),
                         R"({"start":{"dateTime":"2027-05-01T10:00:00","timeZone":"UTC"}})");
  CHECK(to_timed.status == 400);  // still all-day: the new start is not at midnight
  CHECK(e.call("GET", "/v1.0/me/events").json()["value"].Size() == 2);
}

TEST_CASE("events: series master, occurrences, exceptions and cancellations in calendarView",
          "[graph][calendar][recurrence]") {
  REQUIRE_CSDL();
  Emulator e;
  auto r = e.call(
      "POST", "/v1.0/me/events",
      event_body("Standup", "2027-03-01T09:00:00", "2027-03-01T09:15:00", "W. Europe Standard Time",
                 R"(,"recurrence":{"pattern":{"type":"weekly","interval":1,
                               "daysOfWeek":["monday","wednesday"]},
                               "range":{"type":"numbered","startDate":"2027-03-01",
                               "numberOfOccurrences":6}})"));
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto master = r.json();
  check_entities(master, "event");
  CHECK(str(master, "type") == "seriesMaster");
  std::string master_id = str(master, "id");
  auto view = e.call(
      "GET", "/v1.0/me/calendarView?" + window("2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"));
  REQUIRE(view.status == 200);
  auto v = view.json();
  check_entities(v, "event");
  REQUIRE(v["value"].Size() == 6);  // Mar 1, 3, 8, 10, 15, 17
  for (const auto& o : v["value"].GetArray()) {
    CHECK(str(o, "type") == "occurrence");
    CHECK(str(o, "seriesMasterId") == master_id);
  }
  CHECK(str(v["value"][1]["start"], "dateTime") == "2027-03-03T08:00:00.0000000");
  // calendarView pages like any list.
  auto top = e.call("GET", "/v1.0/me/calendarView?$top=4&" +
                               window("2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"))
                 .json();
  CHECK(top["value"].Size() == 4);
  REQUIRE(top.HasMember("@odata.nextLink"));
  CHECK(e.follow(str(top, "@odata.nextLink")).json()["value"].Size() == 2);
  std::string second = str(v["value"][1], "id");
  std::string third = str(v["value"][2], "id");
  auto occ = e.call("GET", "/v1.0/me/events/" + second);
  REQUIRE(occ.status == 200);
  check_entities(occ.json(), "event");

  auto round = run_round(
      e, "/v1.0/me/calendarView/delta?" + window("2027-03-01T00:00:00Z", "2027-03-09T00:00:00Z"));
  CHECK(round.live.count(master_id) == 1);
  CHECK(round.live.count(second) == 1);
  CHECK(round.live.size() == 4);  // the master and Mar 1, 3, 8

  // An exception (PATCH an occurrence) and a cancellation (DELETE one).
  auto ex = e.call("PATCH", "/v1.0/me/events/" + second, R"({"subject":"Moved standup"})");
  INFO(ex.body);
  REQUIRE(ex.status == 200);
  CHECK(str(ex.json(), "type") == "exception");
  REQUIRE(e.call("DELETE", "/v1.0/me/events/" + third).status == 204);
  auto next = run_round(e, round.delta_link);
  CHECK(next.live.count(second) == 1);
  CHECK(next.removed.count(third) == 1);
  // The series' instances: the exception in place of its occurrence, the cancelled one gone.
  auto inst = e.call("GET", "/v1.0/me/events/" + master_id + "/instances?" +
                                window("2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"));
  REQUIRE(inst.status == 200);
  auto ij = inst.json();
  REQUIRE(ij["value"].Size() == 5);
  CHECK(str(ij["value"][1], "type") == "exception");
  CHECK(str(ij["value"][1], "subject") == "Moved standup");
  auto view2 = e.call("GET", "/v1.0/me/calendarView?" +
                                 window("2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"))
                   .json();
  CHECK(view2["value"].Size() == 5);

  // Events leaving the window are not reported as removed.
  auto single = e.call("POST", "/v1.0/me/events",
                       event_body("One-off", "2027-03-05T10:00:00", "2027-03-05T11:00:00", "UTC"));
  std::string single_id = str(single.json(), "id");
  auto r3 = run_round(e, next.delta_link);
  CHECK(r3.live.count(single_id) == 1);
  REQUIRE(e.call("PATCH", "/v1.0/me/events/" + single_id,
                 R"({"start":{"dateTime":"2027-06-05T10:00:00","timeZone":"UTC"},
                     "end":{"dateTime":"2027-06-05T11:00:00","timeZone":"UTC"}})")
              .status == 200);
  auto r4 = run_round(e, r3.delta_link);
  CHECK(r4.live.count(single_id) == 0);
  CHECK(r4.removed.count(single_id) == 0);
  // Deleting it (even outside the window) is reported.
  REQUIRE(e.call("DELETE", "/v1.0/me/events/" + single_id).status == 204);
  auto r5 = run_round(e, r4.delta_link);
  CHECK(r5.removed.count(single_id) == 1);
  // Deleting the series removes its occurrences and its exception.
  REQUIRE(e.call("DELETE", "/v1.0/me/events/" + master_id).status == 204);
  auto r6 = run_round(e, r5.delta_link);
  CHECK(r6.removed.count(master_id) == 1);
  CHECK(r6.removed.count(second) == 1);
  CHECK(e.call("GET", "/v1.0/me/events/" + second).status == 404);
  CHECK(e.call("GET",
               "/v1.0/me/calendarView?" + window("2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z"))
            .json()["value"]
            .Size() == 0);
  // calendarView/delta takes no $select.
  auto sel = e.call("GET", "/v1.0/me/calendarView/delta?$select=subject&" +
                               window("2027-03-01T00:00:00Z", "2027-03-09T00:00:00Z"));
  CHECK(sel.status == 400);
  auto no_window = e.call("GET", "/v1.0/me/calendarView/delta");
  CHECK(no_window.status == 400);
}
