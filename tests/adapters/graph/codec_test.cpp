// The Graph codec without a server: §7 fields to Graph's properties and back, the U1 category
// kept in step by patches, hostile values refused (X3), entities read defensively, zones.
#include <catch2/catch.hpp>

#include "codec.hpp"
#include "json.hpp"
#include "zone.hpp"

using namespace crmsync;
using namespace crmsync::graph;

namespace {

struct Ctx {
  Zone zone = Zone::open("Europe/Berlin").value();
  TrackCategory track;
  CodecContext ctx{&zone, &track};
};

// What a server adds to what was posted before answering with it.
Doc as_served(const Doc& posted, const char* type, const char* id = "AAMk1") {
  Doc d;
  d.CopyFrom(posted, d.GetAllocator());
  auto& a = d.GetAllocator();
  put(d, "@odata.type", str(std::string("#microsoft.graph.") + type, a), a);
  put(d, "@odata.etag", str("W/\"k1\"", a), a);
  put(d, "id", str(id, a), a);
  put(d, "lastModifiedDateTime", str("2026-01-02T03:04:05.1234567Z", a), a);
  return d;
}

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0c0d0000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

}  // namespace

TEST_CASE("§7: a contact's fields on Graph's contact and back", "[graph][codec]") {
  Ctx c;
  NewStoreItem n;
  n.item.kind = ItemKind::kContact;
  n.item.fields = {{"FirstName", std::string("Ann")},
                   {"HomeTelephoneNumber", std::string("+49 30 1")},
                   {"Email2Address", std::string("two@example.com")},
                   {"MailingAddressCity", std::string("Berlin")},
                   {"PagerNumber", std::string("123")},
                   {"Birthday", Date{1974, 7, 22}},
                   {"Children", std::string("Max, Moritz")}};
  n.link = CrmLink{true, guid(1), false, std::nullopt};
  auto body = create_body(n, c.ctx);
  REQUIRE(body.ok());
  CHECK(text(*body, "givenName") == "Ann");
  CHECK((*body)["homePhones"][0] == "+49 30 1");
  REQUIRE((*body)["emailAddresses"].Size() == 2);  // the first left empty, in its place
  CHECK(text((*body)["emailAddresses"][0], "address").empty());
  CHECK(text((*body)["businessAddress"], "city") == "Berlin");
  CHECK(text(*body, "birthday") == "1974-07-22T00:00:00Z");
  CHECK((*body)["categories"][0] == "Tracked to Dynamics 365");  // U1: tracked, so the category
  Props props = props_in(*body);
  CHECK(props[canonical_prop("String 0x3A21")] == "123");
  CHECK(props[canonical_prop(named_prop("CrmId"))] == guid(1).str());
  CHECK_FALSE(body->HasMember("transactionId"));  // events only

  auto item = item_of(ItemKind::kContact, as_served(*body, "contact"), Folder::kContacts, c.ctx);
  REQUIRE(item.ok());
  CHECK(item->item.fields == n.item.fields);
  CHECK(item->link == n.link);
  CHECK(item->change_key == "W/\"k1\"");
  CHECK(item->categories == std::vector<std::string>{"Tracked to Dynamics 365"});
  CHECK(item->item.modified == UtcTime::parse("2026-01-02T03:04:05.123Z").value());
}

TEST_CASE("U1: patches keep the track category in step with the mark - other categories kept",
          "[graph][codec]") {
  Ctx c;
  StoreItem current;
  current.item.kind = ItemKind::kContact;
  current.item.fields["FirstName"] = std::string("Ann");
  current.categories = {"Red", "Blue"};
  auto track = patch_of(current, {}, CrmLink{true, guid(2), false, std::nullopt}, c.ctx);
  REQUIRE(track.ok());
  REQUIRE(track->body.HasMember("categories"));
  CHECK(serialize(track->body["categories"]) == R"(["Red","Blue","Tracked to Dynamics 365"])");
  current.categories = {"tracked to dynamics 365", "Red"};
  current.link.tracked = true;
  auto untrack = mark_patch(current, false, c.ctx);
  REQUIRE(untrack.ok());
  CHECK(serialize(untrack->body["categories"]) == R"(["Red"])");
  // A field change without a link leaves the categories alone.
  auto field = patch_of(current, {{"FirstName", std::string("Bo")}}, std::nullopt, c.ctx);
  REQUIRE(field.ok());
  CHECK_FALSE(field->body.HasMember("categories"));
  CHECK(serialize(field->body) == R"({"givenName":"Bo"})");
  // Tasks: the mark travels in crmsync's linked resource.
  StoreItem task;
  task.item.kind = ItemKind::kTask;
  auto t = mark_patch(task, true, c.ctx);
  REQUIRE(t.ok());
  REQUIRE(t->linked);
  CHECK(text(*t->linked, "applicationName") == "crmsync");
  CHECK(text(*t->linked, "displayName") == "crmsync: tracked");
}

TEST_CASE("X3: values Graph cannot carry or of the wrong type are kInvalid", "[graph][codec]") {
  Ctx c;
  auto refused = [&](ItemKind kind, Folder folder, FieldMap fields) {
    NewStoreItem n;
    n.item.kind = kind;
    n.folder = folder;
    n.item.fields = std::move(fields);
    auto r = create_body(n, c.ctx);
    return !r.ok() && r.error().is(ErrorKind::kInvalid);
  };
  CHECK(
      refused(ItemKind::kContact, Folder::kContacts, {{"FirstName", std::string("bad \xC3\x28")}}));
  CHECK(refused(ItemKind::kContact, Folder::kContacts, {{"FirstName", std::string("n\0ul", 4)}}));
  CHECK(refused(ItemKind::kContact, Folder::kContacts, {{"Birthday", std::string("yesterday")}}));
  CHECK(refused(ItemKind::kContact, Folder::kContacts, {{"Shoe", std::string("42")}}));
  CHECK(refused(ItemKind::kContact, Folder::kContacts, {{"Categories", std::string("Red")}}));
  CHECK(refused(ItemKind::kContact, Folder::kTasks, {{"FirstName", std::string("x")}}));
  CHECK(refused(ItemKind::kTask, Folder::kTasks, {{"Importance", std::string("Urgent")}}));
  CHECK(refused(ItemKind::kTask, Folder::kTasks, {{"Status", std::string("Done")}}));
  CHECK(refused(ItemKind::kTask, Folder::kTasks, {{"Regarding", std::string("not a ref")}}));
  CHECK(refused(ItemKind::kAppointment, Folder::kCalendar, {{"Subject", std::string("no times")}}));
  CHECK(refused(ItemKind::kAppointment, Folder::kCalendar,
                {{"Start", UtcTime{1000}}, {"End", UtcTime{0}}}));
  CHECK(refused(ItemKind::kAppointment, Folder::kCalendar, {{"Organizer", std::string("x")}}));
  CHECK(refused(ItemKind::kEmail, Folder::kInbox, {{"From", PartyList{{"", "", std::nullopt}}}}));
  CHECK(refused(ItemKind::kEmail, Folder::kInbox, {{"SentTime", std::string("then")}}));
}

TEST_CASE("entities are read defensively", "[graph][codec]") {
  auto read = [](ItemKind kind, const char* json) {
    auto d = parse_object(json, "test");
    REQUIRE(d.ok());
    return entity_of(kind, *d);
  };
  auto removed = read(ItemKind::kContact, R"({"@odata.type":"#microsoft.graph.contact","id":"x",
                                             "@removed":{"reason":"deleted"}})");
  REQUIRE(removed.ok());
  CHECK(removed->removed);
  CHECK(read(ItemKind::kContact, R"({"@odata.type":"#microsoft.graph.message","id":"x"})")
            .error()
            .is(ErrorKind::kInvalid));
  CHECK_FALSE(read(ItemKind::kContact,
                   R"({"@odata.etag":"k","lastModifiedDateTime":"2026-01-01T00:00:00Z"})")
                  .ok());
  CHECK_FALSE(
      read(ItemKind::kContact, R"({"id":"x","lastModifiedDateTime":"2026-01-01T00:00:00Z"})").ok());
  CHECK_FALSE(
      read(ItemKind::kContact, R"({"id":"x","@odata.etag":"k","lastModifiedDateTime":"then"})")
          .ok());
  CHECK_FALSE(read(ItemKind::kTask,
                   R"({"id":"x","@odata.etag":"k","lastModifiedDateTime":"2026-01-01T00:00:00Z",
                                        "linkedResources":[{"applicationName":"crmsync","externalId":"nope",
                                        "displayName":"crmsync: tracked"}]})")
                  .ok());
  // Deep nesting and huge bodies do not get through the reader.
  CHECK_FALSE(parse_object(std::string(100'000, '[') + std::string(100'000, ']'), "deep").ok());
  CHECK_FALSE(parse_object(std::string(2000, ' ') + "{}", "big", 1000).ok());
  CHECK_FALSE(parse_object(R"({"a":1} trailing)", "trailing").ok());
}

TEST_CASE("dates keep their day; times zone to the user's wall clock", "[graph][codec]") {
  CHECK(date_from_wire("DueDate", "2026-02-28T23:00:00.0000000").value() == Date{2026, 3, 1});
  CHECK(date_from_wire("DueDate", "2026-03-01T10:00:00Z").value() == Date{2026, 3, 1});
  CHECK(date_from_wire("Birthday", "1974-07-22").value() == Date{1974, 7, 22});
  CHECK_FALSE(date_from_wire("Birthday", "22.07.1974").ok());
  auto berlin = Zone::open("Europe/Berlin").value();
  CHECK(berlin.windows_id() == "W. Europe Standard Time");
  CHECK(berlin.local_text(UtcTime::parse("2026-07-01T10:00:00Z").value()) == "2026-07-01T12:00:00");
  CHECK(berlin.from_local("2026-01-15T00:00:00.0000000").value() ==
        UtcTime::parse("2026-01-14T23:00:00Z").value());
  // The spring-forward gap (02:00-03:00 does not exist): resolved forward, never an error.
  CHECK(berlin.from_local("2026-03-29T02:30:00").ok());
  CHECK_FALSE(berlin.from_local("29.03.2026").ok());
  CHECK_FALSE(Zone::open("Mars/Olympus").ok());
  CHECK(utc_text(UtcTime::parse("2026-01-01T08:00:00.5Z").value()) ==
        "2026-01-01T08:00:00.5000000");
  CHECK(canonical_prop("String {C3A7D2F0-5B1E-4E8A-9F6D-2A4B8C1E7F35} Name CrmId") ==
        canonical_prop(named_prop("CrmId")));
  CHECK(canonical_prop("String 0x3A24") == canonical_prop("string 0x3a24"));
  CHECK(canonical_prop(named_prop("CrmId")) != canonical_prop(named_prop("crmid")));
}
