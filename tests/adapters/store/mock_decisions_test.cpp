// The mock mailbox's side of the user's decisions (SPEC U2: StoreAdapter::record_decision).
#include <catch2/catch.hpp>

#include "crmsync/core/sqlite.hpp"
#include "harnesses.hpp"

using namespace crmsync;
using test::MockMailboxHarness;

namespace {

StoreEvent decision(const EntryId& id, Action action, bool delete_in_crm = false) {
  StoreEvent d;
  d.entry_id = id;
  d.action = action;
  d.delete_in_crm = delete_in_crm;
  return d;
}

std::vector<StoreEvent> events_after(StoreAdapter& s, std::int64_t after) {
  auto r = s.events_after(after, 1000);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEST_CASE("U2: a track decision marks the item and logs one explorer track event", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  const std::int64_t before = *m->last_event_seq();
  auto seq = m->record_decision(decision(*id, Action::kTrack));
  REQUIRE(seq.ok());
  CHECK(*seq == *m->last_event_seq());
  auto ev = events_after(*m, before);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].seq == *seq);
  CHECK(ev[0].action == Action::kTrack);
  CHECK(ev[0].surface == Surface::kExplorer);
  CHECK(ev[0].phase == Phase::kNone);
  CHECK(ev[0].kind == ItemKind::kContact);
  CHECK(m->get(*id)->link.tracked);
}

TEST_CASE("U2 D11: an untrack decision clears the link and keeps delete in CRM", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kTask, std::nullopt, {}, true, Surface::kNone);
  REQUIRE(id.ok());
  auto it = m->get(*id);
  CrmLink link{true, CrmId::generate(), false, std::nullopt};
  REQUIRE(m->update(*id, it->change_key, {}, link).ok());
  const std::int64_t before = *m->last_event_seq();
  auto seq = m->record_decision(decision(*id, Action::kUntrack, true));
  REQUIRE(seq.ok());
  auto ev = events_after(*m, before);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].delete_in_crm);
  CHECK(ev[0].surface == Surface::kExplorer);
  CHECK(m->get(*id)->link == CrmLink{});
}

TEST_CASE("U2: a set-regarding decision only records the event", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kTask, std::nullopt, {}, true, Surface::kNone);
  REQUIRE(id.ok());
  const auto fields = m->get(*id)->item.fields;
  auto seq = m->record_decision(decision(*id, Action::kSetRegarding));
  REQUIRE(seq.ok());
  auto ev = events_after(*m, *seq - 1);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kSetRegarding);
  CHECK(m->get(*id)->item.fields == fields);
}

TEST_CASE("U2: a decision on an unknown item or of another action changes nothing", "[mock]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  const std::int64_t before = *m->last_event_seq();
  auto unknown = m->record_decision(decision(EntryId(std::string(48, 'F')), Action::kTrack));
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().is(ErrorKind::kNotFound));
  for (Action a : {Action::kCreate, Action::kUpdate, Action::kDelete, Action::kSend}) {
    auto r = m->record_decision(decision(*id, a));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  }
  CHECK(*m->last_event_seq() == before);
  CHECK_FALSE(m->get(*id)->link.tracked);
}

// ---- U1: categories ----

namespace {

using Cats = std::vector<std::string>;
constexpr const char* kOurs = "Tracked to Dynamics 365";

}  // namespace

TEST_CASE("U1: gaining the track category tracks as in the explorer - losing it untracks",
          "[mock][U1]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  REQUIRE(m->set_category(*id, "Red", true).ok());
  std::int64_t cursor = *m->last_event_seq();
  REQUIRE(m->set_category(*id, "tracked to DYNAMICS 365", true).ok());
  auto ev = events_after(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kTrack);
  CHECK(ev[0].surface == Surface::kExplorer);
  auto it = m->get(*id);
  CHECK(it->link.tracked);
  CHECK(it->categories == Cats{"Red", "tracked to DYNAMICS 365"});  // the user's spelling

  // The daemon links it: the link changes, the categories stay.
  CrmLink link{true, CrmId::generate(), false, std::nullopt};
  REQUIRE(m->update(*id, it->change_key, {}, link).ok());
  CHECK(m->get(*id)->categories == Cats{"Red", "tracked to DYNAMICS 365"});

  cursor = *m->last_event_seq();
  REQUIRE(m->set_category(*id, kOurs, false).ok());
  ev = events_after(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].surface == Surface::kExplorer);
  CHECK_FALSE(ev[0].delete_in_crm);
  it = m->get(*id);
  CHECK(it->link == CrmLink{});
  CHECK(it->categories == Cats{"Red"});
}

TEST_CASE("U1: other categories are an update from elsewhere - a repeated change is a no-op",
          "[mock][U1]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kTask, std::nullopt, {}, true, Surface::kNone);
  REQUIRE(id.ok());
  CHECK(m->get(*id)->categories == Cats{kOurs});  // tracked when added: ours in step
  std::int64_t cursor = *m->last_event_seq();
  REQUIRE(m->set_category(*id, "Blue", true).ok());
  auto ev = events_after(*m, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUpdate);
  CHECK(ev[0].surface == Surface::kNone);
  cursor = ev[0].seq;
  const std::string key = m->get(*id)->change_key;
  REQUIRE(m->set_category(*id, "BLUE", true).ok());
  REQUIRE(m->set_category(*id, "Green", false).ok());
  REQUIRE(m->set_category(*id, kOurs, true).ok());
  CHECK(events_after(*m, cursor).empty());
  CHECK(m->get(*id)->change_key == key);
  CHECK(m->get(*id)->link.tracked);
}

TEST_CASE("U1: the daemon's writes keep the track category in step and the user's untouched",
          "[mock][U1]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  REQUIRE(m->set_category(*id, "Red", true).ok());
  REQUIRE(m->set_category(*id, "Blue", true).ok());
  auto it = m->get(*id);
  REQUIRE(m->update(*id, it->change_key, {}, CrmLink{true, CrmId::generate(), false, {}}).ok());
  it = m->get(*id);
  CHECK(it->categories == Cats{"Red", "Blue", kOurs});
  REQUIRE(m->update(*id, it->change_key, {}, CrmLink{}).ok());
  CHECK(m->get(*id)->categories == Cats{"Red", "Blue"});

  REQUIRE(m->record_decision(decision(*id, Action::kTrack)).ok());
  CHECK(m->get(*id)->categories == Cats{"Red", "Blue", kOurs});
  REQUIRE(m->record_decision(decision(*id, Action::kUntrack)).ok());
  CHECK(m->get(*id)->categories == Cats{"Red", "Blue"});

  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  n.link = CrmLink{true, CrmId::generate(), false, {}};
  auto created = m->create(n);
  REQUIRE(created.ok());
  CHECK(created->categories == Cats{kOurs});
  CHECK(m->get(created->entry_id)->categories == Cats{kOurs});
}

TEST_CASE("U1: the daemon's track category is the file's for every process - empty is off",
          "[mock][U1]") {
  MockMailboxHarness h;
  {
    auto daemon = open_mock_mailbox(h.path(), h.clock, TrackCategory("CRM"));
    REQUIRE(daemon.ok());
  }
  auto user = h.open_mock();  // the CLI: no track category of its own
  auto id = user->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  REQUIRE(user->set_category(*id, kOurs, true).ok());
  CHECK_FALSE(user->get(*id)->link.tracked);  // just a category now
  REQUIRE(user->set_category(*id, "crm", true).ok());
  CHECK(user->get(*id)->link.tracked);

  auto off = TrackCategory::from_config("");
  REQUIRE(off.ok());
  {
    auto daemon = open_mock_mailbox(h.path(), h.clock, *off);
    REQUIRE(daemon.ok());
  }
  user = h.open_mock();
  auto other = user->add(ItemKind::kContact, std::nullopt, {}, true, Surface::kNone);
  REQUIRE(other.ok());
  CHECK(user->get(*other)->categories.empty());  // tracked, no category written
  REQUIRE(user->set_category(*other, "CRM", true).ok());
  REQUIRE(user->set_category(*other, "Tracked to Dynamics 365", true).ok());
  CHECK(user->get(*other)->link.tracked);
  REQUIRE(user->set_category(*id, "CRM", false).ok());
  CHECK(user->get(*id)->link.tracked);  // off: removing it untracks nothing
}

TEST_CASE("U1: a category name with odd characters is refused and nothing is written",
          "[mock][U1]") {
  MockMailboxHarness h;
  auto m = h.open_mock();
  auto id = m->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(id.ok());
  const std::int64_t before = *m->last_event_seq();
  const std::string key = m->get(*id)->change_key;
  for (std::string bad : {std::string(""), std::string("a;b"), std::string("a,b"),
                          std::string("x\ny"), std::string("\xc3\x28"), std::string(300, 'x')}) {
    CAPTURE(bad);
    auto r = m->set_category(*id, bad, true);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  }
  auto unknown = m->set_category(EntryId(std::string(48, 'A')), "Red", true);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().is(ErrorKind::kNotFound));
  CHECK(*m->last_event_seq() == before);
  CHECK(m->get(*id)->change_key == key);
  CHECK(m->get(*id)->categories.empty());
}

TEST_CASE("C4 U1: a version 1 mailbox migrates - its items keep everything and get categories",
          "[mock][U1]") {
  MockMailboxHarness h;
  EntryId id;
  {
    auto m = h.open_mock();
    auto added = m->add(ItemKind::kContact, std::nullopt, {}, true, Surface::kNone);
    REQUIRE(added.ok());
    id = *added;
  }
  {  // back to the first schema, as an older build left it
    auto db = sql::Database::open(h.path());
    REQUIRE(db.ok());
    REQUIRE(db->exec("ALTER TABLE items DROP COLUMN categories; DROP TABLE settings").ok());
    REQUIRE(db->set_user_version(1).ok());
  }
  auto m = h.open_mock();
  auto it = m->get(id);
  REQUIRE(it.ok());
  CHECK(it->link.tracked);
  CHECK(it->categories.empty());
  REQUIRE(m->set_category(id, "Red", true).ok());  // the next write puts ours in step
  CHECK(m->get(id)->categories == Cats{"Red", kOurs});
}
