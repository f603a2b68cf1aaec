// The Graph adapter against the real graph-emulator process: SPEC §7's fields of every kind
// (checked on the wire as Graph holds them), all-day events and zones, recurring series left out
// (U5), e-mail marks in extended properties.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "crmsync/model/mapping.hpp"
#include "mailbox.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using graphtest::Mailbox;
using graphtest::str_of;

namespace {

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "6f1c0000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

UtcTime at(const char* iso) {
  return UtcTime::parse(iso).value();
}

const rapidjson::Value* ext(const rapidjson::Value& item, const std::string& id_part) {
  if (!item.HasMember("singleValueExtendedProperties")) return nullptr;
  for (const auto& p : item["singleValueExtendedProperties"].GetArray())
    if (std::string(p["id"].GetString()).find(id_part) != std::string::npos) return &p["value"];
  return nullptr;
}

}  // namespace

TEST_CASE("§7: every mapped contact field round-trips through Graph's contact",
          "[graph][emulator]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  // Every text field SPEC §7 maps, read from the mapping table: a new field fails here first.
  for (const auto& f : mapping_for(CrmEntity::kContact).fields) {
    if (f.converter == Converter::kDate) continue;
    n.item.fields[std::string(f.store_field)] = "v-" + std::string(f.store_field);
  }
  n.item.fields["MailingAddressStreet"] = std::string("1 Main St\nBuilding 2");
  n.item.fields["Email1Address"] = std::string("ann@example.com");
  n.item.fields["Email3Address"] = std::string("third@example.com");  // the second left empty
  n.item.fields["Birthday"] = Date{1980, 2, 29};
  n.item.fields["Anniversary"] = Date{2005, 6, 1};
  n.item.fields["Business2TelephoneNumber"] = std::string("+1 555 0102");
  n.link = CrmLink{true, guid(1), false, CrmEntity::kContact};
  n.item.fields.erase("Email2Address");
  auto made = s->create(n);
  REQUIRE(made.ok());
  auto got = s->get(made->entry_id);
  REQUIRE(got.ok());
  CHECK(got->item.fields == n.item.fields);
  CHECK(got->link == n.link);

  // On the wire: Graph's own properties where it has them, Outlook's MAPI properties elsewhere.
  auto raw = box.user("GET", "contacts/" + Mailbox::gid(made->entry_id) + "?$expand=" +
                                 graphtest::url_encode(
                                     "singleValueExtendedProperties($filter=id eq 'String 0x3A24' "
                                     "or id eq 'SystemTime 0x3A41')"));
  CHECK(str_of(raw, "givenName") == "v-FirstName");
  CHECK(str_of(raw, "surname") == "v-LastName");
  CHECK(raw["businessPhones"][0] == "v-BusinessTelephoneNumber");
  CHECK(raw["businessPhones"][1] == "+1 555 0102");
  CHECK(raw["emailAddresses"].Size() == 3);
  CHECK(str_of(raw["emailAddresses"][2], "address") == "third@example.com");
  CHECK(str_of(raw["businessAddress"], "street") == "1 Main St\nBuilding 2");
  CHECK(str_of(raw, "birthday").rfind("1980-02-29", 0) == 0);
  REQUIRE(ext(raw, "0x3A24"));
  CHECK(std::string(ext(raw, "0x3A24")->GetString()) == "v-BusinessFaxNumber");
  REQUIRE(ext(raw, "0x3A41"));
  CHECK(std::string(ext(raw, "0x3A41")->GetString()).rfind("2005-06-01", 0) == 0);

  // Clearing: a collection entry, a MAPI property, a date; the rest stays (M4).
  FieldMap clear{{"Email1Address", Value()},
                 {"BusinessFaxNumber", Value()},
                 {"Anniversary", Value()},
                 {"Birthday", Value()},
                 {"JobTitle", Value(std::string("CEO"))}};
  auto key = s->update(made->entry_id, got->change_key, clear, std::nullopt);
  REQUIRE(key.ok());
  auto after = s->get(made->entry_id);
  REQUIRE(after.ok());
  FieldMap want = n.item.fields;
  for (const auto& [name, value] : clear)
    if (is_null(value))
      want.erase(name);
    else
      want[name] = value;
  CHECK(after->item.fields == want);
  CHECK(after->change_key == *key);
}

TEST_CASE("§7: a task's fields on To Do - the CRM link and Regarding in a linked resource",
          "[graph][emulator]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  NewStoreItem n;
  n.folder = Folder::kTasks;
  n.item.kind = ItemKind::kTask;
  n.item.fields = {{"Subject", std::string("Call back")},
                   {"Body", std::string("about the offer")},
                   {"StartDate", Date{2026, 3, 1}},
                   {"DueDate", Date{2026, 3, 5}},
                   {"Importance", std::string("High")},
                   {"Status", std::string("Waiting")},
                   {"ReminderTime", at("2026-03-05T08:00:00Z")},
                   {"ReminderSet", true},
                   {"Regarding", EntityRef::parse("account:" + guid(9).str()).value()}};
  n.link = CrmLink{true, guid(2), true, CrmEntity::kPhoneCall};
  auto made = s->create(n);
  REQUIRE(made.ok());
  auto got = s->get(made->entry_id);
  REQUIRE(got.ok());
  CHECK(got->item.fields == n.item.fields);
  CHECK(got->link == n.link);
  CHECK(got->folder == Folder::kTasks);

  auto lists = box.user("GET", "todo/lists");
  std::string list;
  for (const auto& l : lists["value"].GetArray())
    if (str_of(l, "wellknownListName") == "defaultList") list = str_of(l, "id");
  auto raw = box.user("GET", "todo/lists/" + list + "/tasks/" + Mailbox::gid(made->entry_id) +
                                 "?$expand=linkedResources");
  REQUIRE(raw["linkedResources"].Size() == 1);
  CHECK(str_of(raw["linkedResources"][0], "applicationName") == "crmsync");
  CHECK(str_of(raw["linkedResources"][0], "externalId") == guid(2).str());
  CHECK(str_of(raw, "status") == "waitingOnOthers");
  CHECK(str_of(raw["dueDateTime"], "dateTime").rfind("2026-03-05T00:00:00", 0) == 0);

  // The link changes alone (the linked resource), then with a field: new change keys each time.
  CrmLink linked{true, guid(2), false, CrmEntity::kPhoneCall};
  auto k1 = s->update(made->entry_id, got->change_key, {}, linked);
  REQUIRE(k1.ok());
  CHECK(*k1 != got->change_key);
  auto k2 = s->update(made->entry_id, *k1,
                      {{"Status", std::string("Complete")}, {"Regarding", Value()}}, std::nullopt);
  REQUIRE(k2.ok());
  auto after = s->get(made->entry_id);
  REQUIRE(after.ok());
  CHECK(after->change_key == *k2);
  CHECK(after->link == linked);
  CHECK(after->item.text("Status") == "Complete");
  CHECK_FALSE(after->item.find("Regarding"));
  auto found = s->find_by_crm_id(guid(2));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->entry_id == made->entry_id);
}

TEST_CASE("§7: appointments - all-day events at the user's midnights, times in UTC",
          "[graph][emulator]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto c = box.config();
  c.time_zone = "Europe/Berlin";
  auto s = box.open(c);
  const UtcTime now = system_clock().now();
  const std::int64_t day = 86'400'000;
  // A day of the user's (Berlin, winter: UTC+1) ten days ahead, midnight to midnight.
  Date d = Date::from_days_since_epoch(now.ms / day + 10);
  UtcTime start{d.days_since_epoch() * day - 3'600'000};
  UtcTime end{start.ms + day};
  NewStoreItem n;
  n.folder = Folder::kCalendar;
  n.item.kind = ItemKind::kAppointment;
  n.item.fields = {{"Subject", std::string("Offsite")},
                   {"AllDayEvent", true},
                   {"Start", start},
                   {"End", end},
                   {"Location", std::string("Berlin")},
                   {"ShowTimeAs", std::string("OutOfOffice")},
                   {"RequiredAttendees", PartyList{Party{"bob@example.com", "Bob", std::nullopt}}},
                   {"Regarding", EntityRef::parse("opportunity:" + guid(3).str()).value()}};
  n.link = CrmLink{true, guid(4), false, std::nullopt};
  auto made = s->create(n);
  REQUIRE(made.ok());
  auto got = s->get(made->entry_id);
  REQUIRE(got.ok());
  for (const char* f : {"Subject", "AllDayEvent", "Start", "End", "Location", "ShowTimeAs",
                        "RequiredAttendees", "Regarding"}) {
    INFO(f);
    REQUIRE(got->item.find(f));
    CHECK(*got->item.find(f) == n.item.fields[f]);
  }
  CHECK(std::get<std::int64_t>(*got->item.find("Duration")) == 24 * 60);
  CHECK(got->link == n.link);
  // As Outlook writes it: the user's Windows zone, wall-clock midnights.
  auto raw = box.user("GET", "events/" + Mailbox::gid(made->entry_id));
  CHECK(str_of(raw["start"], "dateTime").rfind(d.iso() + "T00:00:00", 0) == 0);
  CHECK(str_of(raw, "originalStartTimeZone") == "W. Europe Standard Time");
  CHECK(str_of(raw, "transactionId") == guid(4).str());  // X1

  // A timed event keeps its instants; moving it keeps the zone.
  NewStoreItem t = n;
  t.item.fields = {{"Subject", std::string("Call")},
                   {"Start", UtcTime{start.ms + 3'600'000 * 10}},
                   {"End", UtcTime{start.ms + 3'600'000 * 11}}};
  t.link = CrmLink{};
  auto timed = s->create(t);
  REQUIRE(timed.ok());
  UtcTime moved{start.ms + 3'600'000 * 10 + 1'800'000};
  REQUIRE(s->update(timed->entry_id, timed->change_key, {{"Start", moved}}, std::nullopt).ok());
  auto again = s->get(timed->entry_id);
  REQUIRE(again.ok());
  CHECK(std::get<UtcTime>(*again->item.find("Start")) == moved);
  CHECK(std::get<UtcTime>(*again->item.find("End")) == std::get<UtcTime>(t.item.fields["End"]));
}

TEST_CASE("U5: a recurring series is left out of sync with a per-item error", "[graph][emulator]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  REQUIRE(s->events_after(0, 10).ok());  // the baseline
  const UtcTime now = system_clock().now();
  const std::string start = UtcTime{(now.ms / 86'400'000 + 2) * 86'400'000 + 9 * 3'600'000}.iso();
  const std::string end = UtcTime{(now.ms / 86'400'000 + 2) * 86'400'000 + 10 * 3'600'000}.iso();
  auto series =
      box.user("POST", "events",
               R"({"subject":"Weekly","start":{"dateTime":")" + start.substr(0, 19) +
                   R"(","timeZone":"UTC"},"end":{"dateTime":")" + end.substr(0, 19) +
                   R"(","timeZone":"UTC"},"recurrence":{"pattern":{"type":"daily","interval":1},
          "range":{"type":"numbered","numberOfOccurrences":3,"startDate":")" +
                   start.substr(0, 10) + R"("}}})");
  auto ev = s->events_after(0, 100);
  REQUIRE(ev.ok());
  CHECK(ev->empty());  // neither the master nor its occurrences are items of the sync
  auto scan = s->scan_headers_since(ItemKind::kAppointment, UtcTime{0});
  REQUIRE(scan.ok());
  CHECK(scan->empty());
  auto got = s->get(EntryId("appointment:" + str_of(series, "id")));
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().is(ErrorKind::kInvalid));
  CHECK_THAT(got.error().message(), Catch::Contains("recurring series"));
}

TEST_CASE("§7: a received e-mail - the tracked mark, CRM id and Regarding in extended properties",
          "[graph][emulator]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  REQUIRE(s->events_after(0, 10).ok());
  auto delivered = box.emu->admin(
      "POST", "/admin/users/" + box.upn + "/deliver",
      R"({"folder":"inbox","message":{"subject":"Offer","body":{"contentType":"text","content":"Hi"},
          "from":{"emailAddress":{"address":"bob@example.com","name":"Bob"}},
          "toRecipients":[{"emailAddress":{"address":")" +
          box.upn + R"("}}],
          "internetMessageId":"<m1@example.com>"}})");
  REQUIRE(delivered.ok());
  REQUIRE(delivered->status == 200);
  auto ev = s->events_after(0, 100);
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK(ev->front().action == Action::kCreate);
  CHECK(ev->front().kind == ItemKind::kEmail);
  auto got = s->get(ev->front().entry_id);
  REQUIRE(got.ok());
  CHECK(got->folder == Folder::kInbox);
  CHECK(got->item.text("Subject") == "Offer");
  CHECK(got->item.text("MessageId") == "<m1@example.com>");
  CHECK(std::get<PartyList>(*got->item.find("From")).front().address == "bob@example.com");
  CHECK(got->item.find("ReceivedTime"));
  CHECK_FALSE(got->link.tracked);

  // T4: tracking sets the link and Regarding only.
  CrmLink link{true, guid(5), false, std::nullopt};
  auto key = s->update(got->entry_id, got->change_key,
                       {{"Regarding", EntityRef::parse("contact:" + guid(6).str()).value()}}, link);
  REQUIRE(key.ok());
  auto again = s->get(got->entry_id);
  REQUIRE(again.ok());
  CHECK(again->link == link);
  CHECK(again->item.find("Regarding"));
  // Filterable as Graph documents it: the user's client (or another crmsync) finds it by CRM id.
  const std::string filter = "singleValueExtendedProperties/any(ep: ep/id eq 'String {" +
                             std::string("c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35") +
                             "} Name CrmId' and ep/value eq '" + guid(5).str() + "')";
  auto listed = box.user("GET", "messages?$filter=" + graphtest::url_encode(filter));
  REQUIRE(listed["value"].Size() == 1);
  auto found = s->find_by_crm_id(guid(5));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->entry_id == got->entry_id);
  // A sent message's body cannot change any more (message-update.md): kInvalid, nothing written.
  auto refused =
      s->update(got->entry_id, *key, {{"Subject", std::string("Changed")}}, std::nullopt);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().is(ErrorKind::kInvalid));
}
