// The mock mailbox beyond the contract: the user's actions and their events (surfaces and
// phases, SPEC T2), its file (schema version, foreign files), several processes, crashes.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include "crmsync/core/sqlite.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/test/process.hpp"
#include "harnesses.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using test::MockMailboxHarness;

namespace {

FieldMap fields(std::initializer_list<std::pair<const char*, const char*>> kv, ItemKind kind) {
  FieldMap out;
  for (const auto& [k, v] : kv) out[k] = parse_store_value(kind, k, v).value();
  return out;
}

std::vector<StoreEvent> events(MockMailbox& m, std::int64_t after = 0) {
  auto r = m.events_after(after, 10'000);
  REQUIRE(r.ok());
  return *r;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

}  // namespace

TEST_CASE("mock: entry ids are opaque 48-digit upper-case hex - unique", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  std::set<std::string> ids;
  std::regex hex("[0-9A-F]{48}");
  for (int i = 0; i < 50; ++i) {
    auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
    REQUIRE(id.ok());
    CHECK(std::regex_match(id->str(), hex));
    ids.insert(id->str());
  }
  CHECK(ids.size() == 50);
}

TEST_CASE("mock: modification time is strictly increasing per item - even on a frozen clock",
          "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kTask, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  UtcTime last = m->get(*id)->item.modified;
  CHECK(last == h.clock.now());
  std::set<std::string> keys{m->get(*id)->change_key};
  for (int i = 0; i < 5; ++i) {
    REQUIRE(m->set(*id, fields({{"Subject", "s"}}, ItemKind::kTask), Surface::kNone).ok());
    auto got = m->get(*id);
    REQUIRE(got.ok());
    CHECK(got->item.modified > last);
    last = got->item.modified;
    keys.insert(got->change_key);
  }
  CHECK(keys.size() == 6);
}

TEST_CASE("T2: --via inspector logs save then close - explorer one event - none one event",
          "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt,
                   fields({{"FirstName", "Ann"}}, ItemKind::kContact), true, Surface::kInspector);
  REQUIRE(id.ok());
  auto ev = events(*m);
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].action == Action::kCreate);
  CHECK(ev[0].phase == Phase::kSave);
  CHECK(ev[1].action == Action::kCreate);
  CHECK(ev[1].phase == Phase::kClose);
  CHECK(ev[2].action == Action::kTrack);
  CHECK(ev[2].phase == Phase::kSave);
  CHECK(ev[3].action == Action::kTrack);
  CHECK(ev[3].phase == Phase::kClose);
  for (const auto& e : ev) CHECK(e.surface == Surface::kInspector);
  CHECK(m->get(*id)->link.tracked);

  std::int64_t cursor = ev.back().seq;
  REQUIRE(m->set(*id, fields({{"LastName", "Lee"}}, ItemKind::kContact), Surface::kExplorer).ok());
  ev = events(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUpdate);
  CHECK(ev[0].surface == Surface::kExplorer);
  CHECK(ev[0].phase == Phase::kNone);

  cursor = ev.back().seq;
  REQUIRE(m->set(*id, fields({{"LastName", "Li"}}, ItemKind::kContact), Surface::kNone).ok());
  ev = events(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].surface == Surface::kNone);
  CHECK(ev[0].phase == Phase::kNone);
  CHECK(ev[0].at == h.clock.now());
}

TEST_CASE("D2: untrack clears the link and records delete_in_crm", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  auto it = m->get(*id);
  REQUIRE(m->update(*id, it->change_key, {}, CrmLink{true, guid(3), false, std::nullopt}).ok());
  std::int64_t cursor = events(*m).back().seq;

  REQUIRE(m->untrack(*id, true, Surface::kExplorer).ok());
  auto got = m->get(*id);
  REQUIRE(got.ok());
  CHECK(got->link == CrmLink{});
  auto ev = events(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].delete_in_crm);
  CHECK_FALSE(m->find_by_crm_id(guid(3))->has_value());

  REQUIRE(m->track(*id, Surface::kNone).ok());
  REQUIRE(m->untrack(*id, false, Surface::kNone).ok());
  ev = events(*m, cursor);
  REQUIRE(ev.size() == 3);
  CHECK(ev[1].action == Action::kTrack);
  CHECK_FALSE(ev[2].delete_in_crm);
}

TEST_CASE("T2: set regarding in explorer sets Regarding - contacts have none", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto t = m->add(ItemKind::kTask, std::nullopt, {}, true, Surface::kNone);
  REQUIRE(t.ok());
  EntityRef ref{"account", guid(9), ""};
  REQUIRE(m->set_regarding(*t, ref, Surface::kExplorer).ok());
  auto got = m->get(*t);
  REQUIRE(got.ok());
  REQUIRE(got->item.find("Regarding") != nullptr);
  CHECK(std::get<EntityRef>(*got->item.find("Regarding")) == ref);
  auto ev = events(*m);
  CHECK(ev.back().action == Action::kSetRegarding);
  CHECK(ev.back().surface == Surface::kExplorer);

  auto c = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(c.ok());
  auto before = m->last_event_seq();
  auto r = m->set_regarding(*c, ref, Surface::kExplorer);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK(*m->last_event_seq() == *before);
}

TEST_CASE("T3: send moves a draft to sent items with phase send", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto d = m->add(ItemKind::kEmail, Folder::kDrafts, fields({{"Subject", "Hi"}}, ItemKind::kEmail),
                  true, Surface::kInspector);
  REQUIRE(d.ok());
  std::int64_t cursor = *m->last_event_seq();
  h.advance(5s);
  REQUIRE(m->send(*d).ok());
  auto got = m->get(*d);
  REQUIRE(got.ok());
  CHECK(got->folder == Folder::kSentItems);
  CHECK(got->link.tracked);
  if (is_known_store_field(ItemKind::kEmail, "SentTime")) {
    REQUIRE(got->item.find("SentTime") != nullptr);
    CHECK(std::get<UtcTime>(*got->item.find("SentTime")) == h.clock.now());
  }
  auto ev = events(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kSend);
  CHECK(ev[0].phase == Phase::kSend);
  CHECK(ev[0].surface == Surface::kInspector);

  auto again = m->send(*d);  // no longer a draft
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().is(ErrorKind::kInvalid));
  auto contact = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  CHECK(m->send(*contact).error().is(ErrorKind::kInvalid));
}

TEST_CASE("mock: folders must fit the kind", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto r = m->add(ItemKind::kContact, Folder::kInbox, {}, false, Surface::kNone);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK(*m->last_event_seq() == 0);
  CHECK(m->add(ItemKind::kEmail, std::nullopt, {}, false, Surface::kNone).ok());
  CHECK(m->get(m->list(ItemKind::kEmail)->front().entry_id)->folder == Folder::kInbox);
}

TEST_CASE("S3: a user delete removes the row and leaves its event", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kAppointment, std::nullopt, {}, true, Surface::kNone);
  REQUIRE(id.ok());
  REQUIRE(m->remove(*id, Surface::kInspector).ok());
  CHECK(m->get(*id).error().is(ErrorKind::kNotFound));
  auto ev = events(*m);
  REQUIRE(ev.size() == 4);
  CHECK(ev[2].action == Action::kDelete);
  CHECK(ev[2].kind == ItemKind::kAppointment);
  CHECK(ev[3].phase == Phase::kClose);
  CHECK(m->remove(*id, Surface::kNone).error().is(ErrorKind::kNotFound));
}

TEST_CASE("mock: list is newest first - optionally by kind", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto a = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  h.advance(1s);
  auto b = m->add(ItemKind::kTask, std::nullopt, {}, false, Surface::kNone);
  h.advance(1s);
  auto c = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  auto all = m->list(std::nullopt);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].entry_id == *c);
  CHECK((*all)[1].entry_id == *b);
  CHECK((*all)[2].entry_id == *a);
  CHECK(m->list(ItemKind::kContact)->size() == 2);
  CHECK(m->list(ItemKind::kEmail)->empty());
}

TEST_CASE("mock: every typed value reads back exactly after reopening", "[mock]") {
  MockMailboxHarness h;
  EntryId appt, mail;
  FieldMap appt_fields, mail_fields;
  {
    auto m = h.open_mock();
    appt_fields = fields({{"Subject", "Review"},
                          {"Start", "2026-03-01T08:00:00.123Z"},
                          {"AllDayEvent", "false"},
                          {"Duration", "90"},
                          {"Importance", "High"},
                          {"ShowTimeAs", "OutOfOffice"},
                          {"RequiredAttendees", "a@x.org; Bob <b@y.org>"}},
                         ItemKind::kAppointment);
    appt_fields["Regarding"] = EntityRef{"account", guid(5), "Contoso"};
    PartyList resolved{{"c@z.org", "Cy", EntityRef{"contact", guid(6), "Cy"}}};
    appt_fields["OptionalAttendees"] = resolved;
    appt = *m->add(ItemKind::kAppointment, std::nullopt, appt_fields, false, Surface::kNone);
    mail_fields = fields({{"Subject", "Hi"}, {"To", "d@w.org"}}, ItemKind::kEmail);
    mail = *m->add(ItemKind::kEmail, Folder::kSentItems, mail_fields, false, Surface::kNone);
  }
  auto m = h.open_mock();
  auto a = m->get(appt);
  REQUIRE(a.ok());
  CHECK(a->item.fields == appt_fields);
  auto regarding = std::get<EntityRef>(a->item.fields.at("Regarding"));
  CHECK(regarding.name == "Contoso");
  auto opt = std::get<PartyList>(a->item.fields.at("OptionalAttendees"));
  REQUIRE(opt.size() == 1);
  REQUIRE(opt[0].ref.has_value());
  CHECK(opt[0].name == "Cy");
  CHECK(opt[0].ref->name == "Cy");
  auto e = m->get(mail);
  REQUIRE(e.ok());
  CHECK(e->item.fields == mail_fields);
  CHECK(e->folder == Folder::kSentItems);
}

TEST_CASE("mock: a value above the size limit is kInvalid", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  FieldMap f{{"Body", Value(std::string(MockMailbox::kMaxValueBytes + 1, 'a'))}};
  auto r = m->add(ItemKind::kContact, std::nullopt, f, false, Surface::kNone);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK(m->list(std::nullopt)->empty());
}

TEST_CASE("C4: a mailbox with a newer schema is refused and left untouched", "[mock]") {
  MockMailboxHarness h;
  auto journal = GENERATE(as<std::string>{}, "wal", "delete");
  {
    auto m = h.open_mock();
    REQUIRE(m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone).ok());
  }
  {
    auto db = sql::Database::open(h.path());
    REQUIRE(db.ok());
    REQUIRE(db->set_user_version(MockMailbox::kSchemaVersion + 1).ok());
    REQUIRE(db->exec("PRAGMA journal_mode=" + journal).ok());
  }
  std::string before = read_bytes(h.path());
  auto r = open_mock_mailbox(h.path(), h.clock);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kCorrupt));
  CHECK(read_bytes(h.path()) == before);
}

TEST_CASE("C4: files that are not mock mailboxes are refused untouched", "[mock]") {
  MockMailboxHarness h;
  SECTION("not SQLite") {
    std::ofstream(h.path(), std::ios::binary) << std::string(4096, 'z');
  }
  SECTION("another SQLite database") {
    auto db = sql::Database::open(h.path());
    REQUIRE(db.ok());
    REQUIRE(db->exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)").ok());
  }
  std::string before = read_bytes(h.path());
  auto r = open_mock_mailbox(h.path(), h.clock);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kCorrupt));
  CHECK(read_bytes(h.path()) == before);
}

TEST_CASE("mock: a second process sees this one's writes and events - and the reverse",
          "[mock][process]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto mine = m->add(ItemKind::kContact, std::nullopt,
                     fields({{"FirstName", "Ann"}}, ItemKind::kContact), false, Surface::kNone);
  REQUIRE(mine.ok());
  std::string path = h.path();
  test::ForkedChild child([&](int fd) {
    FakeClock clock;
    auto other = open_mock_mailbox(path, clock);
    if (!other) return 10;
    auto seen = (*other)->get(*mine);
    if (!seen || seen->item.text("FirstName") != "Ann") return 11;
    auto id = (*other)->add(ItemKind::kTask, std::nullopt, {}, true, Surface::kExplorer);
    if (!id) return 12;
    test::write_line(fd, id->str());
    return 0;
  });
  std::string theirs;
  REQUIRE(child.read_line(theirs));
  CHECK(child.wait() == 0);
  auto got = m->get(EntryId(theirs));
  REQUIRE(got.ok());
  CHECK(got->link.tracked);
  auto ev = events(*m);
  REQUIRE(ev.size() == 3);
  CHECK(ev[1].entry_id.str() == theirs);
  CHECK(ev[2].action == Action::kTrack);
  CHECK(ev[2].surface == Surface::kExplorer);
}

TEST_CASE("P1: two processes writing one shared mailbox at once both succeed", "[mock][process]") {
  MockMailboxHarness h;
  { auto m = h.open_mock(); }  // create the schema first
  constexpr int kWrites = 100;
  std::string path = h.path();
  auto writer = [&](int fd) {
    FakeClock clock;
    auto m = open_mock_mailbox(path, clock);
    if (!m) return 10;
    for (int i = 0; i < kWrites; ++i) {
      auto id = (*m)->add(ItemKind::kTask, std::nullopt, {}, false, Surface::kNone);
      if (!id) return 11;
      auto it = (*m)->get(*id);
      if (!it || !(*m)->update(*id, it->change_key, {}, std::nullopt)) return 12;
    }
    test::write_line(fd, "done");
    return 0;
  };
  test::ForkedChild one(writer);
  test::ForkedChild two(writer);
  std::string line;
  CHECK(one.read_line(line));
  CHECK(two.read_line(line));
  CHECK(one.wait() == 0);
  CHECK(two.wait() == 0);
  auto m = h.open_mock();
  CHECK(m->list(ItemKind::kTask)->size() == 2 * kWrites);
  auto ev = events(*m);
  REQUIRE(ev.size() == 4 * kWrites);
  for (std::size_t i = 1; i < ev.size(); ++i) CHECK(ev[i - 1].seq < ev[i].seq);
}

TEST_CASE("C3: kill -9 in the middle of many writes keeps every committed write",
          "[mock][process]") {
  MockMailboxHarness h;
  { auto m = h.open_mock(); }
  std::string path = h.path();
  test::ForkedChild child([&](int fd) {
    FakeClock clock;
    auto m = open_mock_mailbox(path, clock);
    if (!m) return 10;
    std::string body(2000, 'b');
    for (int i = 0;; ++i) {
      auto id =
          (*m)->add(ItemKind::kContact, std::nullopt, {{"Body", Value(body + std::to_string(i))}},
                    i % 2 == 0, Surface::kInspector);
      if (!id) return 11;
      test::write_line(fd, id->str());  // after the commit: this one must survive
    }
  });
  std::vector<std::string> committed;
  std::string line;
  while (committed.size() < 300 && child.read_line(line)) committed.push_back(line);
  child.kill_hard();
  while (child.read_line(line)) committed.push_back(line);
  CHECK(child.wait() == -1);
  REQUIRE(committed.size() >= 300);

  {
    auto db = sql::Database::open(path);
    REQUIRE(db.ok());
    auto check = db->integrity_check();
    REQUIRE(check.ok());
    CHECK(*check == "ok");
  }
  auto m = h.open_mock();
  for (const auto& id : committed) {
    auto got = m->get(EntryId(id));
    REQUIRE(got.ok());
  }
  auto items = m->list(ItemKind::kContact);
  REQUIRE(items.ok());
  CHECK(items->size() >= committed.size());
  CHECK(items->size() <= committed.size() + 1);  // the last one may have committed unreported
  // Still writable after the crash.
  CHECK(m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone).ok());
}

TEST_CASE(
    "S2: an item written with an old modification time is listed after the position "
    "(issue 20: no margin needed)",
    "[mock][positions]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto first = m->add(ItemKind::kContact, std::nullopt, {{"LastName", std::string("Early")}}, true,
                      Surface::kNone);
  REQUIRE(first.ok());
  auto synced = m->headers_changed_after(ItemKind::kContact, "");
  REQUIRE(synced.ok());

  // Another device whose clock is an hour behind writes after the position was taken: its
  // items carry modification times older than everything the scan had seen. A scan by time
  // from the newest time seen (minus a 2-minute margin) would miss them.
  FakeClock behind(UtcTime{h.clock.now().ms - 3'600'000});
  auto late = open_mock_mailbox(h.path(), behind);
  REQUIRE(late.ok());
  auto added = (*late)->add(ItemKind::kContact, std::nullopt, {{"LastName", std::string("Late")}},
                            true, Surface::kNone);
  REQUIRE(added.ok());
  REQUIRE((*late)->set(*first, {{"JobTitle", std::string("Changed late")}}, Surface::kNone).ok());
  auto late_item = m->get(*added);
  REQUIRE(late_item.ok());
  REQUIRE(late_item->item.modified.ms < h.clock.now().ms - 2 * 60'000);
  auto by_time = m->scan_headers_since(ItemKind::kContact, UtcTime{h.clock.now().ms - 2 * 60'000});
  REQUIRE(by_time.ok());
  // The scan by time with its margin sees `first` (a write moves its time up by at least a
  // millisecond) but not the new item.
  REQUIRE(by_time->size() == 1);
  CHECK(by_time->front().entry_id == *first);

  auto changed = m->headers_changed_after(ItemKind::kContact, synced->position);
  REQUIRE(changed.ok());
  std::set<std::string> ids;
  for (const auto& x : changed->headers) ids.insert(x.entry_id.str());
  CHECK(ids == std::set<std::string>{first->str(), added->str()});
  auto quiet = m->headers_changed_after(ItemKind::kContact, changed->position);
  REQUIRE(quiet.ok());
  CHECK(quiet->headers.empty());
}
