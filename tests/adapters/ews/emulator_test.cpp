// The EWS adapter on the real ews-emulator beyond the generic contract suite: changes made by
// another client become events, the lease and the handoff queue as hidden items, and every
// request the adapter sent validates against the official schema.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "codec.hpp"
#include "crmsync/core/lease.hpp"
#include "crmsync/core/sqlite.hpp"
#include "crmsync/test/spawn.hpp"
#include "ews_harness.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

using ewstest::contact;

TEST_CASE("S1: another client's changes become events - our own are not repeated",
          "[ews][emulator]") {
  test::EwsHarness h;
  auto mine = h.open();
  auto other = h.open_with(h.config("other-device.db"));  // another machine: its own state
  auto baseline = mine->events_after(0, 100);
  REQUIRE(baseline.ok());
  CHECK(baseline->empty());

  auto a = other->create(contact("Ann", "Lee"));
  REQUIRE(a.ok());
  auto ev = mine->events_after(0, 100);
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK((*ev)[0].action == Action::kCreate);
  CHECK((*ev)[0].entry_id == a->entry_id);
  CHECK((*ev)[0].surface == Surface::kNone);
  CHECK((*ev)[0].kind == ItemKind::kContact);
  const auto cursor = ev->back().seq;

  REQUIRE(other
              ->update(a->entry_id, a->change_key, {{"JobTitle", Value(std::string("CTO"))}},
                       std::nullopt)
              .ok());
  auto upd = mine->events_after(cursor, 100);
  REQUIRE(upd.ok());
  REQUIRE(upd->size() == 1);
  CHECK((*upd)[0].action == Action::kUpdate);

  // Our own write: one event, and the sync pass does not add a second one.
  auto got = mine->get(a->entry_id);
  REQUIRE(got.ok());
  REQUIRE(mine->update(a->entry_id, got->change_key, {{"LastName", Value(std::string("Ray"))}},
                       std::nullopt)
              .ok());
  auto own = mine->events_after((*upd)[0].seq, 100);
  REQUIRE(own.ok());
  CHECK(own->size() == 1);
  auto none = mine->events_after(own->back().seq, 100);
  REQUIRE(none.ok());
  CHECK(none->empty());

  REQUIRE(other->remove(a->entry_id).ok());
  auto del = mine->events_after(own->back().seq, 100);
  REQUIRE(del.ok());
  REQUIRE(del->size() == 1);
  CHECK((*del)[0].action == Action::kDelete);
}

TEST_CASE("S1: wait_for_events wakes up for another device's write (streaming subscription)",
          "[ews][emulator]") {
  test::EwsHarness h;
  auto mine = h.open();
  auto other = h.open_with(h.config("other-device.db"));
  REQUIRE(mine->events_after(0, 10).ok());
  CHECK_FALSE(mine->wait_for_events(0, 200ms));
  std::thread writer([&] {
    std::this_thread::sleep_for(300ms);
    (void)other->create(contact("Bob", "Ray"));
  });
  bool woke = mine->wait_for_events(0, 20s);
  writer.join();
  CHECK(woke);
}

TEST_CASE("P1: the lease is a hidden item written by compare-and-swap", "[ews][emulator][lease]") {
  test::EwsHarness h;
  auto a = h.open();
  auto b = h.open_with(h.config("b.db"));
  LeaseStore* la = a->lease_store();
  LeaseStore* lb = b->lease_store();
  REQUIRE(la);
  REQUIRE(lb);
  auto empty = la->read_lease();
  REQUIRE(empty.ok());
  CHECK(empty->version.empty());

  LeaseRecord rec{"client-a", 1, UtcTime::parse("2026-06-01T10:00:00.500Z").value()};
  auto v1 = la->write_lease("", rec);
  REQUIRE(v1.ok());
  auto seen = lb->read_lease();
  REQUIRE(seen.ok());
  CHECK(seen->version == *v1);
  CHECK(seen->record.holder == "client-a");
  CHECK(seen->record.epoch == 1);
  CHECK(seen->record.expires == rec.expires);

  // b cannot create a second lease, and a stale version loses.
  auto dup = lb->write_lease("", LeaseRecord{"client-b", 1, rec.expires});
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().is(ErrorKind::kConflict));
  auto v2 = lb->write_lease(*v1, LeaseRecord{"client-b", 2, rec.expires});
  REQUIRE(v2.ok());
  auto stale = la->write_lease(*v1, LeaseRecord{"client-a", 3, rec.expires});
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().is(ErrorKind::kConflict));
  auto now = la->read_lease();
  REQUIRE(now.ok());
  CHECK(now->record.holder == "client-b");
  CHECK(now->record.epoch == 2);
  CHECK(now->version == *v2);

  // The hidden item is not a mailbox item the engine sees.
  for (ItemKind k : kAllItemKinds) {
    auto items = a->scan_modified_since(k, UtcTime{0});
    REQUIRE(items.ok());
    CHECK(items->empty());
  }
  auto ev = a->events_after(0, 100);
  REQUIRE(ev.ok());
  CHECK(ev->empty());

  // The LeaseKeeper runs on it.
  FakeClock clock(UtcTime::parse("2026-06-01T11:00:00Z").value());
  LeaseKeeper keeper(*la, clock, "client-c", Role::kPrimary, 60s, 5s);
  auto st = keeper.tick();
  REQUIRE(st.ok());
  CHECK(st->held);
  CHECK(st->record.epoch == 3);
}

TEST_CASE("T5: the handoff queue keeps order across clients - remove takes one",
          "[ews][emulator][queue]") {
  test::EwsHarness h;
  auto a = h.open();
  auto b = h.open_with(h.config("b.db"));
  HandoffQueue* qa = a->handoff_queue();
  HandoffQueue* qb = b->handoff_queue();
  REQUIRE(qa);
  REQUIRE(qb);
  auto d0 = qa->depth();
  REQUIRE(d0.ok());
  CHECK(*d0 == 0);
  for (int i = 0; i < 3; ++i) {
    QueuedChange c;
    c.client_id = i % 2 ? "b" : "a";
    c.kind = i == 1 ? ItemKind::kTask : ItemKind::kContact;
    c.entry_id = EntryId("E" + std::to_string(i));
    c.action = i == 2 ? Action::kUntrack : Action::kUpdate;
    c.delete_in_crm = i == 2;
    c.at = UtcTime::from_seconds(1'767'225'600 + i);
    REQUIRE((i % 2 ? qb : qa)->enqueue(c).ok());
  }
  auto depth = qb->depth();
  REQUIRE(depth.ok());
  CHECK(*depth == 3);
  auto all = qa->peek(10);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  for (int i = 0; i < 3; ++i) CHECK((*all)[i].entry_id.str() == "E" + std::to_string(i));
  CHECK((*all)[1].client_id == "b");
  CHECK((*all)[1].kind == ItemKind::kTask);
  CHECK((*all)[2].action == Action::kUntrack);
  CHECK((*all)[2].delete_in_crm);
  CHECK((*all)[0].at == UtcTime::from_seconds(1'767'225'600));
  auto two = qb->peek(2);
  REQUIRE(two.ok());
  CHECK(two->size() == 2);

  REQUIRE(qa->remove((*all)[0].id).ok());
  auto again = qa->remove((*all)[0].id);
  if (!again.ok()) CHECK(again.error().is(ErrorKind::kNotFound));
  auto rest = qb->peek(10);
  REQUIRE(rest.ok());
  REQUIRE(rest->size() == 2);
  CHECK((*rest)[0].entry_id.str() == "E1");
  CHECK(*qa->depth() == 2);
}

TEST_CASE("every request the adapter sends validates against the official schema",
          "[ews][emulator][schema]") {
  if (!ewstest::require_schema_check()) return;
  test::EwsHarness h;
  auto s = h.open();
  NewStoreItem c = contact("Ann", "Lee");
  c.item.fields["Birthday"] = Date{1980, 2, 29};
  c.item.fields["Email1Address"] = std::string("ann@example.org");
  c.item.fields["MailingAddressStreet"] = std::string("1 Main St");
  c.item.fields["GovernmentIDNumber"] = std::string("X-1");
  c.link = CrmLink{true, CrmId::generate(), true, CrmEntity::kContact};
  auto created = s->create(c);
  REQUIRE(created.ok());
  NewStoreItem t;
  t.folder = Folder::kTasks;
  t.item.kind = ItemKind::kTask;
  t.item.fields["Subject"] = std::string("Call");
  t.item.fields["DueDate"] = Date{2026, 3, 1};
  t.item.fields["Status"] = std::string("InProgress");
  auto task = s->create(t);
  REQUIRE(task.ok());
  REQUIRE(s->update(created->entry_id, created->change_key,
                    {{"FirstName", Value()},
                     {"Email1Address", Value(std::string("a@b.org"))},
                     {"MailingAddressCity", Value(std::string("Town"))}},
                    CrmLink{true, CrmId::generate(), false, std::nullopt})
              .ok());
  REQUIRE(s->find_by_crm_id(*created->link.crm_id).ok());
  REQUIRE(s->scan_modified_since(ItemKind::kContact, UtcTime{0}).ok());
  REQUIRE(s->scan_modified_since(ItemKind::kEmail, UtcTime{0}).ok());
  REQUIRE(s->events_after(0, 10).ok());
  (void)s->wait_for_events(1'000'000, 1500ms);  // Subscribe, then GetStreamingEvents
  REQUIRE(s->remove(task->entry_id).ok());
  auto v = s->lease_store()->write_lease("", LeaseRecord{"x", 1, UtcTime{0}});
  REQUIRE(v.ok());
  REQUIRE(s->lease_store()->write_lease(*v, LeaseRecord{"x", 2, UtcTime{0}}).ok());
  REQUIRE(s->handoff_queue()
              ->enqueue(QueuedChange{"", "x", ItemKind::kContact, EntryId("E"), Action::kUpdate,
                                     false, UtcTime{0}})
              .ok());
  auto q = s->handoff_queue()->peek(1);
  REQUIRE(q.ok());
  REQUIRE(q->size() == 1);
  REQUIRE(s->handoff_queue()->remove(q->front().id).ok());

  std::vector<std::string> bodies;
  {
    std::lock_guard<std::mutex> lock(ewstest::RecordingTransport::mu());
    bodies = *h.requests;
  }
  std::set<std::string> ops;
  for (const auto& b : bodies) {
    auto p = b.find("<s:Body><m:");
    if (p != std::string::npos)
      ops.insert(b.substr(p + 11, b.find_first_of(" >", p + 11) - p - 11));
  }
  INFO("operations sent: " << bodies.size());
  for (const char* op : {"CreateItem", "GetItem", "UpdateItem", "DeleteItem", "FindItem",
                         "SyncFolderItems", "GetFolder", "Subscribe", "GetStreamingEvents"}) {
    INFO("operation " << op);
    CHECK(ops.count(op) == 1);
  }
  std::string errors = ewstest::schema_errors(bodies);
  INFO(errors);
  CHECK(errors.empty());
}

namespace {

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

// Creates `n`, reads it back, and compares field by field (so a failure names the field).
void round_trip(StoreAdapter& s, const NewStoreItem& n, const FieldMap& expected) {
  auto created = s.create(n);
  REQUIRE(created.ok());
  auto got = s.get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->folder == n.folder);
  CHECK(got->item.kind == n.item.kind);
  CHECK(got->link == n.link);
  for (const auto& [k, v] : expected) {
    INFO("field " << k);
    auto it = got->item.fields.find(k);
    REQUIRE(it != got->item.fields.end());
    CHECK(display(it->second) == display(v));
    CHECK(it->second == v);
  }
  for (const auto& [k, v] : got->item.fields) {
    INFO("unexpected field " << k << " = " << display(v));
    CHECK(expected.count(k) == 1);
  }
}

}  // namespace

TEST_CASE("§7: every mapped contact field round-trips through EWS", "[ews][emulator][mapping]") {
  test::EwsHarness h;
  auto s = h.open();
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  for (const auto& f : ewstest::mapped_contact_text_fields()) n.item.fields[f] = "v-" + f;
  n.item.fields["MailingAddressStreet"] = std::string("1 Main St\nBuilding 2");
  n.item.fields["Birthday"] = Date{1980, 2, 29};
  n.item.fields["Anniversary"] = Date{2005, 6, 1};
  n.link = CrmLink{true, guid(1), false, CrmEntity::kContact};
  round_trip(*s, n, n.item.fields);
}

TEST_CASE("§7: every mapped task field round-trips through EWS", "[ews][emulator][mapping]") {
  test::EwsHarness h;
  auto s = h.open();
  for (const char* status : {"NotStarted", "InProgress", "Waiting", "Deferred", "Complete"}) {
    NewStoreItem n;
    n.folder = Folder::kTasks;
    n.item.kind = ItemKind::kTask;
    n.item.fields["Subject"] = std::string("Call back");
    n.item.fields["Body"] = std::string("line 1\nline 2");
    n.item.fields["StartDate"] = Date{2026, 3, 1};
    n.item.fields["DueDate"] = Date{2026, 3, 2};
    n.item.fields["Status"] = std::string(status);
    n.item.fields["Importance"] = std::string("High");
    n.item.fields["ReminderTime"] = UtcTime::parse("2026-03-02T08:00:00Z").value();
    n.item.fields["Regarding"] = EntityRef{"account", guid(5), ""};
    n.link = CrmLink{true, guid(2), true, CrmEntity::kPhoneCall};
    round_trip(*s, n, n.item.fields);
  }
}

TEST_CASE("§7: appointment fields round-trip - Duration is computed - Organizer read-only",
          "[ews][emulator][mapping]") {
  test::EwsHarness h;
  auto s = h.open();
  NewStoreItem n;
  n.folder = Folder::kCalendar;
  n.item.kind = ItemKind::kAppointment;
  auto& f = n.item.fields;
  f["Subject"] = std::string("Review");
  f["Body"] = std::string("agenda");
  f["Start"] = UtcTime::parse("2026-03-15T09:00:00Z").value();
  f["End"] = UtcTime::parse("2026-03-15T10:30:00Z").value();
  f["AllDayEvent"] = false;
  f["Location"] = std::string("Room 1");
  f["ShowTimeAs"] = std::string("OutOfOffice");
  f["Importance"] = std::string("Low");
  f["RequiredAttendees"] = PartyList{{"a@example.org", "A", std::nullopt}};
  f["OptionalAttendees"] = PartyList{{"b@example.org", "B", std::nullopt}};
  f["Regarding"] = EntityRef{"contact", guid(6), ""};
  FieldMap expected = f;
  expected["Duration"] = std::int64_t{90};
  f["Duration"] = std::int64_t{90};
  auto created = s->create(n);
  REQUIRE(created.ok());
  auto got = s->get(created->entry_id);
  REQUIRE(got.ok());
  for (const auto& [k, v] : expected) {
    INFO("field " << k);
    auto it = got->item.fields.find(k);
    REQUIRE(it != got->item.fields.end());
    CHECK(it->second == v);
  }
  // Organizer is the mailbox owner, whatever the caller asked for.
  if (auto it = got->item.fields.find("Organizer"); it != got->item.fields.end()) {
    const auto* parties = std::get_if<PartyList>(&it->second);
    REQUIRE(parties);
    REQUIRE(parties->size() == 1);
  }
  // Updating a time recomputes the duration.
  REQUIRE(s->update(got->entry_id, got->change_key,
                    {{"End", Value(UtcTime::parse("2026-03-15T11:00:00Z").value())}}, std::nullopt)
              .ok());
  auto later = s->get(got->entry_id);
  REQUIRE(later.ok());
  CHECK(later->item.fields.at("Duration") == Value(std::int64_t{120}));
}

TEST_CASE("§7: an all-day event keeps its day", "[ews][emulator][mapping]") {
  test::EwsHarness h;
  auto s = h.open();
  NewStoreItem n;
  n.folder = Folder::kCalendar;
  n.item.kind = ItemKind::kAppointment;
  n.item.fields["Subject"] = std::string("Holiday");
  n.item.fields["Start"] = UtcTime::parse("2026-03-15T00:00:00Z").value();
  n.item.fields["End"] = UtcTime::parse("2026-03-16T00:00:00Z").value();
  n.item.fields["AllDayEvent"] = true;
  auto created = s->create(n);
  REQUIRE(created.ok());
  auto got = s->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->item.fields.at("AllDayEvent") == Value(true));
  CHECK(got->item.fields.at("Start") == n.item.fields.at("Start"));
  CHECK(got->item.fields.at("End") == n.item.fields.at("End"));
}

TEST_CASE("§7: all-day events at the user's midnights - in every zone, across DST",
          "[ews][emulator][mapping][timezone]") {
  // Exchange moves an all-day event's start back and its end forward to midnight in the
  // event's zone: written in any zone but the user's, a day at the user's midnights would
  // grow to two (the trap). The adapter writes the user's zone; each day comes back as sent.
  struct Case {
    const char* zone;
    const char* start;  // the user's local midnights, in UTC
    const char* end;
    const char* moved_start;  // a week later, as CRM would move it
    const char* moved_end;
  };
  const Case cases[] = {
      {"UTC", "2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z", "2026-03-22T00:00:00Z",
       "2026-03-23T00:00:00Z"},
      {"Europe/Berlin", "2026-01-14T23:00:00Z", "2026-01-15T23:00:00Z",  // CET
       "2026-01-21T23:00:00Z", "2026-01-22T23:00:00Z"},
      {"Europe/Berlin", "2026-07-14T22:00:00Z", "2026-07-15T22:00:00Z",  // CEST
       "2026-07-21T22:00:00Z", "2026-07-22T22:00:00Z"},
      {"Europe/Berlin", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z",  // the 23-hour day
       "2026-04-04T22:00:00Z", "2026-04-05T22:00:00Z"},
      {"America/New_York", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z",  // 25 hours
       "2026-11-08T05:00:00Z", "2026-11-09T05:00:00Z"},
      {"Asia/Kolkata", "2026-06-01T18:30:00Z", "2026-06-03T18:30:00Z",  // two days, +05:30
       "2026-06-08T18:30:00Z", "2026-06-10T18:30:00Z"},
      {"Pacific/Auckland", "2026-12-24T11:00:00Z", "2026-12-25T11:00:00Z",  // +13
       "2026-12-31T11:00:00Z", "2027-01-01T11:00:00Z"},
  };
  for (const Case& c : cases) {
    INFO(c.zone << " " << c.start);
    test::EwsHarness h;
    EwsStoreConfig config = h.config();
    config.time_zone = c.zone;
    auto s = h.open_with(config);
    NewStoreItem n;
    n.folder = Folder::kCalendar;
    n.item.kind = ItemKind::kAppointment;
    n.item.fields["Subject"] = std::string("Holiday");
    n.item.fields["Start"] = UtcTime::parse(c.start).value();
    n.item.fields["End"] = UtcTime::parse(c.end).value();
    n.item.fields["AllDayEvent"] = true;
    auto created = s->create(n);
    REQUIRE(created.ok());
    CHECK(created->item.fields.at("Start") == n.item.fields.at("Start"));
    CHECK(created->item.fields.at("End") == n.item.fields.at("End"));
    CHECK(created->item.fields.at("AllDayEvent") == Value(true));

    FieldMap moved{{"Start", UtcTime::parse(c.moved_start).value()},
                   {"End", UtcTime::parse(c.moved_end).value()}};
    auto key = s->update(created->entry_id, created->change_key, moved, std::nullopt);
    REQUIRE(key.ok());
    auto got = s->get(created->entry_id);
    REQUIRE(got.ok());
    CHECK(got->item.fields.at("Start") == moved.at("Start"));
    CHECK(got->item.fields.at("End") == moved.at("End"));
    CHECK(got->item.fields.at("AllDayEvent") == Value(true));
  }
}

TEST_CASE("§7: the all-day trap - the same day written in another zone grows to two",
          "[ews][emulator][mapping][timezone]") {
  // Why the zone matters: Berlin's midnights written as UTC all-day times are moved to the
  // UTC midnights around them (the emulator follows Exchange's documented rule).
  test::EwsHarness h;
  auto s = h.open();  // time_zone UTC
  NewStoreItem n;
  n.folder = Folder::kCalendar;
  n.item.kind = ItemKind::kAppointment;
  n.item.fields["Subject"] = std::string("Holiday");
  n.item.fields["Start"] = UtcTime::parse("2026-01-14T23:00:00Z").value();
  n.item.fields["End"] = UtcTime::parse("2026-01-15T23:00:00Z").value();
  n.item.fields["AllDayEvent"] = true;
  auto created = s->create(n);
  REQUIRE(created.ok());
  CHECK(created->item.fields.at("Start") == Value(UtcTime::parse("2026-01-14T00:00:00Z").value()));
  CHECK(created->item.fields.at("End") == Value(UtcTime::parse("2026-01-16T00:00:00Z").value()));
  // A zone Exchange does not know is refused at open, naming it.
  EwsStoreConfig bad = h.config("bad.db");
  bad.time_zone = "Mars/Olympus_Mons";
  auto refused = open_ews_store(bad, system_clock());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().is(ErrorKind::kInvalid));
  CHECK_THAT(refused.error().message(), Catch::Contains("Mars/Olympus_Mons"));
}

TEST_CASE("§7: e-mail fields read from a saved message", "[ews][emulator][mapping]") {
  test::EwsHarness h;
  auto s = h.open();
  NewStoreItem n;
  n.folder = Folder::kDrafts;
  n.item.kind = ItemKind::kEmail;
  n.item.fields["Subject"] = std::string("Offer");
  n.item.fields["Body"] = std::string("Hello");
  n.item.fields["To"] =
      PartyList{{"a@example.org", "A", std::nullopt}, {"b@example.org", "B", std::nullopt}};
  n.item.fields["Cc"] = PartyList{{"c@example.org", "C", std::nullopt}};
  n.item.fields["Regarding"] = EntityRef{"opportunity", guid(7), ""};
  n.link = CrmLink{true, std::nullopt, false, std::nullopt};
  auto created = s->create(n);
  REQUIRE(created.ok());
  auto got = s->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->folder == Folder::kDrafts);
  CHECK(got->link.tracked);
  for (const char* k : {"Subject", "Body", "To", "Cc", "Regarding"}) {
    INFO("field " << k);
    REQUIRE(got->item.find(k));
    CHECK(*got->item.find(k) == n.item.fields.at(k));
  }
  auto mails = s->scan_modified_since(ItemKind::kEmail, UtcTime{0});
  REQUIRE(mails.ok());
  REQUIRE(mails->size() == 1);
  CHECK(mails->front().entry_id == created->entry_id);
}

TEST_CASE("E3: throttling and server errors on the emulator are retried - nothing duplicated",
          "[ews][emulator][faults]") {
  test::EwsHarness h;
  ewstest::Emulator* emu = ewstest::Emulator::shared(nullptr);
  REQUIRE(emu);
  std::vector<std::chrono::milliseconds> waits;
  EwsStoreConfig c = h.config();
  c.max_attempts = 30;
  c.sleep = [&](std::chrono::milliseconds d) { waits.push_back(d); };
  auto s = h.open_with(c);
  REQUIRE(s->events_after(0, 10).ok());  // baseline before the faults
  struct Reset {
    ewstest::Emulator* e;
    ~Reset() { e->set_faults("{}"); }
  } reset{emu};
  REQUIRE(emu->set_faults(R"({"throttle_rate":0.3,"seed":7,"backoff_ms":1500})"));
  std::vector<EntryId> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = s->create(contact("N" + std::to_string(i), "L"));
    REQUIRE(r.ok());
    ids.push_back(r->entry_id);
    REQUIRE(
        s->update(r->entry_id, r->change_key, {{"JobTitle", Value(std::string("T"))}}, std::nullopt)
            .ok());
  }
  REQUIRE(emu->set_faults(R"({"fail_nth":1})"));  // one ErrorInternalServerError
  auto items = s->scan_modified_since(ItemKind::kContact, UtcTime{0});
  REQUIRE(items.ok());
  CHECK(items->size() == 5);
  REQUIRE(emu->set_faults("{}"));
  auto ev = s->events_after(0, 100);
  REQUIRE(ev.ok());
  CHECK(ev->size() == 10);  // 5 creates + 5 updates, each once
  REQUIRE_FALSE(waits.empty());
  CHECK(std::any_of(waits.begin(), waits.end(), [](auto w) { return w >= 1500ms; }));
}

namespace {

// How many requests of operation `op` the harness's transport has sent so far.
std::size_t count_ops(const test::EwsHarness& h, const std::string& op) {
  std::lock_guard<std::mutex> lock(ewstest::RecordingTransport::mu());
  return static_cast<std::size_t>(
      std::count_if(h.requests->begin(), h.requests->end(), [&](const std::string& b) {
        return b.find("<s:Body><m:" + op + " ") != std::string::npos ||
               b.find("<s:Body><m:" + op + ">") != std::string::npos;
      }));
}

CrmId batch_guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", 500 + n);
  return CrmId::parse(buf).value();
}

std::vector<NewStoreItem> linked_contacts(int n) {
  std::vector<NewStoreItem> out;
  for (int i = 0; i < n; ++i) {
    NewStoreItem c = contact("B" + std::to_string(i), "Batch");
    c.link = CrmLink{true, batch_guid(i), true, CrmEntity::kContact};
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

TEST_CASE("create_many: one CreateItem per folder and batch - one GetItem to read them back",
          "[ews][emulator][batch]") {
  test::EwsHarness h;
  EwsStoreConfig c = h.config();
  c.get_batch_size = 3;
  auto s = h.open_with(c);
  std::vector<NewStoreItem> items = linked_contacts(7);
  for (int i = 0; i < 2; ++i) {
    NewStoreItem t;
    t.folder = Folder::kTasks;
    t.item.kind = ItemKind::kTask;
    t.item.fields["Subject"] = std::string("T") + std::to_string(i);
    items.push_back(std::move(t));
  }
  const std::size_t creates = count_ops(h, "CreateItem");
  const std::size_t gets = count_ops(h, "GetItem");
  auto made = s->create_many(items);
  REQUIRE(made.size() == 9);
  for (const auto& m : made) REQUIRE(m.ok());
  CHECK(count_ops(h, "CreateItem") - creates == 4);  // contacts 3+3+1, tasks 2
  CHECK(count_ops(h, "GetItem") - gets == 4);        // one read-back per batch
  // get_many: one GetItem per get_batch_size ids, each result in place.
  std::vector<EntryId> ids;
  for (const auto& m : made) ids.push_back(m->entry_id);
  const std::size_t before = count_ops(h, "GetItem");
  auto got = s->get_many(ids);
  CHECK(count_ops(h, "GetItem") - before == 3);
  REQUIRE(got.size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    REQUIRE(got[i].ok());
    CHECK(got[i]->entry_id == ids[i]);
  }
  // A second look changes nothing: no events for the adapter's own creates twice.
  auto ev = s->events_after(0, 100);
  REQUIRE(ev.ok());
  CHECK(ev->size() == 9);
}

TEST_CASE("create_many: throttled batches are retried whole - a lost reply is not repeated (X1)",
          "[ews][emulator][batch][faults]") {
  test::EwsHarness h;
  ewstest::Emulator* emu = ewstest::Emulator::shared(nullptr);
  REQUIRE(emu);
  struct Reset {
    ewstest::Emulator* e;
    ~Reset() { e->set_faults("{}"); }
  } reset{emu};
  EwsStoreConfig c = h.config();
  c.max_attempts = 30;
  c.sleep = [](std::chrono::milliseconds) {};
  auto s = h.open_with(c);
  REQUIRE(s->events_after(0, 10).ok());  // folders resolved, baseline taken

  // Throttled in the reply's messages: nothing was made, so the batch goes again.
  REQUIRE(emu->set_faults(R"({"busy_in_response_rate":0.5,"seed":3})"));
  auto first = linked_contacts(4);
  auto made = s->create_many(first);
  REQUIRE(emu->set_faults("{}"));
  for (const auto& m : made) REQUIRE(m.ok());

  // The reply to the next batch is lost after the server made the items.
  std::vector<NewStoreItem> second;
  for (int i = 4; i < 8; ++i) second.push_back(linked_contacts(8)[static_cast<std::size_t>(i)]);
  const std::size_t creates = count_ops(h, "CreateItem");
  REQUIRE(emu->set_faults(R"({"drop_after_commit_rate":1.0})"));
  auto lost = s->create_many(second);
  REQUIRE(emu->set_faults("{}"));
  CHECK(count_ops(h, "CreateItem") - creates == 1);  // never repeated
  for (const auto& m : lost) {
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().retryable());
  }
  // Every item exists exactly once, found by its pending CRM id as the engine's X1 step does.
  for (int i = 0; i < 8; ++i) {
    INFO(i);
    auto found = s->find_by_crm_id(batch_guid(i));
    REQUIRE(found.ok());
    CHECK(found->has_value());
  }
  auto all = s->scan_modified_since(ItemKind::kContact, UtcTime{0});
  REQUIRE(all.ok());
  CHECK(all->size() == 8);
}

TEST_CASE("S1: a sync state the server refuses → full resync - no duplicate events",
          "[ews][emulator][sync]") {
  test::EwsHarness h;
  auto mine = h.open();
  auto other = h.open_with(h.config("other-device.db"));
  REQUIRE(mine->events_after(0, 10).ok());  // baseline
  std::vector<StoreItem> items;
  for (int i = 0; i < 4; ++i) {
    auto r = other->create(contact("N" + std::to_string(i), "L"));
    REQUIRE(r.ok());
    items.push_back(*r);
  }
  auto seen = mine->events_after(0, 100);
  REQUIRE(seen.ok());
  REQUIRE(seen->size() == 4);
  const auto cursor = seen->back().seq;

  // The server forgets our state (as after a mailbox move): the stored states are garbage now.
  {
    auto db = sql::Database::open(h.config().state_path);
    REQUIRE(db.ok());
    REQUIRE(db->exec("UPDATE sync_state SET state = 'AAAAAAAAAAAAAAAAAAAAAAAA'").ok());
  }
  REQUIRE(other
              ->update(items[1].entry_id, items[1].change_key,
                       {{"JobTitle", Value(std::string("CTO"))}}, std::nullopt)
              .ok());
  REQUIRE(other->remove(items[2].entry_id).ok());
  auto after = mine->events_after(cursor, 100);
  REQUIRE(after.ok());
  REQUIRE(after->size() == 2);  // one update, one delete; nothing for the unchanged two
  std::map<std::string, Action> by_id;
  for (const auto& e : *after) by_id[e.entry_id.str()] = e.action;
  CHECK(by_id[items[1].entry_id.str()] == Action::kUpdate);
  CHECK(by_id[items[2].entry_id.str()] == Action::kDelete);
  auto quiet = mine->events_after(after->back().seq, 100);
  REQUIRE(quiet.ok());
  CHECK(quiet->empty());
}

TEST_CASE("a service account acts for the mailbox through ExchangeImpersonation",
          "[ews][emulator]") {
  test::EwsHarness h;
  ewstest::Emulator* emu = ewstest::Emulator::shared(nullptr);
  REQUIRE(emu);
  const std::string service = ewstest::unique_email();
  REQUIRE(emu->add_user(service, "secret"));
  EwsStoreConfig c = h.config("service.db");
  c.auth.username = service;
  c.impersonate = true;
  auto as_service = h.open_with(c);
  auto created = as_service->create(contact("Ann", "Lee"));
  REQUIRE(created.ok());
  auto owner = h.open();
  auto got = owner->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->item.text("FirstName") == "Ann");
}

TEST_CASE("P1: two clients creating the first lease at once: at most one wins",
          "[ews][emulator][lease]") {
  for (int round = 0; round < 4; ++round) {
    test::EwsHarness h;
    auto a = h.open();
    auto b = h.open_with(h.config("b.db"));
    Result<std::string> ra = Error::Internal("not run"), rb = Error::Internal("not run");
    std::thread ta([&] {
      ra = a->lease_store()->write_lease("", LeaseRecord{"a", 1, UtcTime{0}});
    });
    std::thread tb([&] {
      rb = b->lease_store()->write_lease("", LeaseRecord{"b", 1, UtcTime{0}});
    });
    ta.join();
    tb.join();
    INFO("round " << round);
    CHECK_FALSE((ra.ok() && rb.ok()));
    for (auto* r : {&ra, &rb})
      if (!r->ok()) CHECK(r->error().is(ErrorKind::kConflict));
    auto now = a->lease_store()->read_lease();
    REQUIRE(now.ok());
    if (ra.ok()) CHECK(now->version == *ra);
    if (rb.ok()) CHECK(now->version == *rb);
    if (!ra.ok() && !rb.ok()) CHECK(now->version.empty());
  }
}

namespace {

// The request bodies the harness's adapters sent for one operation.
std::vector<std::string> sent(const test::EwsHarness& h, const std::string& op) {
  std::lock_guard<std::mutex> lock(ewstest::RecordingTransport::mu());
  std::vector<std::string> out;
  for (const auto& b : *h.requests)
    if (b.find("<m:" + op + ">") != std::string::npos ||
        b.find("<m:" + op + " ") != std::string::npos)
      out.push_back(b);
  return out;
}

std::int64_t ms_between(std::chrono::steady_clock::time_point a,
                        std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

TEST_CASE("S1: a contact saved through exchangelib wakes wait_for_events at once (streaming)",
          "[ews][emulator][streaming]") {
  if (!ewstest::require_exchangelib()) return;
  test::EwsHarness h;
  auto c = h.config();
  c.poll_interval = std::chrono::hours(1);  // a pull poll could not wake the wait in time
  auto s = h.open_with(c);
  REQUIRE(s->events_after(0, 10).ok());
  CHECK_FALSE(s->wait_for_events(0, 500ms));  // subscribes and opens the stream

  // The user saves a contact in Outlook on the web while the daemon waits.
  std::chrono::steady_clock::time_point saved;
  test::RunResult user;
  std::thread web([&] {
    user =
        ewstest::mailbox_user(ewstest::Emulator::shared(nullptr)->url(), h.email, "secret",
                              {"create", "contact", R"({"given_name":"Ada","surname":"Byron"})"});
    saved = std::chrono::steady_clock::now();
  });
  const bool woke = s->wait_for_events(0, 30s);
  const auto woke_at = std::chrono::steady_clock::now();
  web.join();
  INFO(user.err);
  REQUIRE(user.exit_code == 0);
  CHECK(woke);
  // Promptly: before (or just after) exchangelib's process has even exited.
  const std::int64_t late_ms = ms_between(saved, woke_at);
  CHECK(late_ms < 2000);
  auto ev = s->events_after(0, 10);
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK(ev->front().action == Action::kCreate);
  CHECK(ev->front().entry_id.str() == user.out.substr(0, user.out.find('\n')));

  CHECK(sent(h, "GetEvents").empty());
  auto subscribe = sent(h, "Subscribe");
  REQUIRE(subscribe.size() == 1);
  CHECK_THAT(subscribe[0], Catch::Contains("StreamingSubscriptionRequest"));
  auto streams = sent(h, "GetStreamingEvents");
  REQUIRE(streams.size() == 1);
  if (ewstest::require_schema_check()) {
    std::string errors = ewstest::schema_errors({subscribe[0], streams[0]});
    INFO(errors);
    CHECK(errors.empty());
  }
}

TEST_CASE("S1: a dropped stream reconnects - later events still wake the wait",
          "[ews][emulator][streaming]") {
  test::EwsHarness h;
  std::string why;
  auto* emu = ewstest::Emulator::shared(&why);
  REQUIRE(emu);
  ewstest::TcpProxy proxy(emu->port());
  auto c = h.config();
  c.url = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/EWS/Exchange.asmx";
  c.poll_interval = std::chrono::hours(1);
  c.backoff_base = 50ms;
  auto s = h.open_with(c);
  auto other = h.open_with(h.config("other-device.db"));  // straight to the emulator
  REQUIRE(s->events_after(0, 10).ok());
  CHECK_FALSE(s->wait_for_events(0, 500ms));
  REQUIRE(sent(h, "GetStreamingEvents").size() == 1);

  const int before = proxy.accepted();
  proxy.drop_all();  // the stream and the kept-alive connection die
  // The wait notices, backs off and reconnects (a new stream) within its time.
  REQUIRE(test::eventually(
      [&] {
        (void)s->wait_for_events(0, 200ms);
        return sent(h, "GetStreamingEvents").size() >= 2;
      },
      20s));
  CHECK(proxy.accepted() > before);
  CHECK(sent(h, "Subscribe").size() == 1);  // the subscription outlived the connection

  auto created = other->create(contact("After", "Drop"));
  REQUIRE(created.ok());
  const auto start = std::chrono::steady_clock::now();
  CHECK(s->wait_for_events(0, 20s));
  CHECK(ms_between(start, std::chrono::steady_clock::now()) < 2000);
  auto ev = s->events_after(0, 10);
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK(ev->front().entry_id == created->entry_id);
  CHECK(sent(h, "GetEvents").empty());
}
