// U1 (a category is the user's "Track in CRM"), U2 (record_decision: the CLI's buttons as the
// user's own events), and SPEC §6's lease and handoff queue as hidden messages, on
// graph-emulator.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "crmsync/core/lease.hpp"
#include "mailbox.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using graphtest::Mailbox;
using graphtest::str_of;

namespace {

constexpr const char* kTrack = "Tracked to Dynamics 365";

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "5e5e0000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

std::vector<StoreEvent> after(StoreAdapter& s, std::int64_t& cursor) {
  auto ev = s.events_after(cursor, 10'000);
  REQUIRE(ev.ok());
  if (!ev->empty()) cursor = ev->back().seq;
  return *ev;
}

std::vector<std::string> categories(Mailbox& box, const std::string& path) {
  auto d = box.user("GET", path);
  std::vector<std::string> out;
  for (const auto& c : d["categories"].GetArray()) out.emplace_back(c.GetString());
  return out;
}

int master_count(Mailbox& box, const std::string& name) {
  auto d = box.user("GET", "outlook/masterCategories");
  int n = 0;
  for (const auto& c : d["value"].GetArray()) {
    std::string got = str_of(c, "displayName");
    if (std::equal(got.begin(), got.end(), name.begin(), name.end(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      ++n;
  }
  return n;
}

}  // namespace

TEST_CASE(
    "U1: an item gaining the track category is tracked from the explorer - losing it untracks",
    "[graph][u1]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  std::int64_t cursor = 0;
  after(*s, cursor);
  auto ann =
      box.user("POST", "contacts",
               std::string(R"({"givenName":"Ann","categories":["Red",")") + kTrack + R"("]})");
  auto bob = box.user("POST", "contacts", R"({"givenName":"Bob"})");
  const std::string a = "contact:" + str_of(ann, "id");
  const std::string b = "contact:" + str_of(bob, "id");
  auto ev = after(*s, cursor);
  REQUIRE(ev.size() == 2);
  for (const auto& e : ev) {
    if (e.entry_id.str() == a) {
      CHECK(e.action == Action::kTrack);
      CHECK(e.surface == Surface::kExplorer);
    } else {
      CHECK(e.action == Action::kCreate);
    }
  }
  auto got = s->get(EntryId(a));
  REQUIRE(got.ok());
  CHECK(got->link.tracked);  // the mark in step with the category
  CHECK(got->categories == std::vector<std::string>{"Red", kTrack});
  // Another case of the name is the same category (Outlook's list is case-insensitive).
  box.user("PATCH", "contacts/" + str_of(bob, "id"),
           R"({"categories":["tracked to dynamics 365"]})");
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].entry_id.str() == b);
  CHECK(ev[0].action == Action::kTrack);
  // The user takes it off Ann: an untrack; her other category stays.
  box.user("PATCH", "contacts/" + str_of(ann, "id"), R"({"categories":["Red"]})");
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].entry_id.str() == a);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].surface == Surface::kExplorer);
  got = s->get(EntryId(a));
  REQUIRE(got.ok());
  CHECK_FALSE(got->link.tracked);
  CHECK(categories(box, "contacts/" + str_of(ann, "id")) == std::vector<std::string>{"Red"});
  CHECK(after(*s, cursor).empty());  // the adapter's own mark writes are not the user's

  // The same on a To Do task and a received e-mail.
  auto lists = box.user("GET", "todo/lists");
  std::string list;
  for (const auto& l : lists["value"].GetArray())
    if (str_of(l, "wellknownListName") == "defaultList") list = str_of(l, "id");
  auto task = box.user("POST", "todo/lists/" + list + "/tasks",
                       std::string(R"({"title":"T","categories":[")") + kTrack + R"("]})");
  REQUIRE(
      box.emu
          ->admin("POST", "/admin/users/" + box.upn + "/deliver",
                  std::string(R"({"message":{"subject":"M","categories":[")") + kTrack + R"("]}})")
          .ok());
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 2);
  for (const auto& e : ev) {
    CHECK(e.action == Action::kTrack);
    auto item = s->get(e.entry_id);
    REQUIRE(item.ok());
    CHECK(item->link.tracked);
  }
  CHECK(std::any_of(ev.begin(), ev.end(), [&](const StoreEvent& e) {
    return e.entry_id.str() == "task:" + str_of(task, "id");
  }));
}

TEST_CASE("U1: the daemon's tracking adds the category once - the user's others untouched",
          "[graph][u1]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  auto mine = box.user("POST", "contacts", R"({"givenName":"Cat","categories":["Red","Blue"]})");
  const EntryId id("contact:" + str_of(mine, "id"));
  auto got = s->get(id);
  REQUIRE(got.ok());
  auto k1 = s->update(id, got->change_key, {}, CrmLink{true, guid(1), false, std::nullopt});
  REQUIRE(k1.ok());
  CHECK(categories(box, "contacts/" + str_of(mine, "id")) ==
        std::vector<std::string>{"Red", "Blue", kTrack});
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  n.item.fields["FirstName"] = std::string("From CRM");
  n.link = CrmLink{true, guid(2), false, std::nullopt};
  auto made = s->create(n);
  REQUIRE(made.ok());
  CHECK(made->categories == std::vector<std::string>{kTrack});
  auto again = box.open();  // another adapter (a new daemon run) checks the master list again
  n.link.crm_id = guid(3);
  REQUIRE(again->create(n).ok());
  CHECK(master_count(box, kTrack) == 1);
  // Untracked by the daemon: the category goes, Red and Blue stay.
  got = s->get(id);
  REQUIRE(got.ok());
  REQUIRE(s->update(id, got->change_key, {}, CrmLink{}).ok());
  CHECK(categories(box, "contacts/" + str_of(mine, "id")) ==
        std::vector<std::string>{"Red", "Blue"});
  // A master category the user made in another case is the same one.
  Mailbox other;
  other.user("POST", "outlook/masterCategories",
             R"({"displayName":"TRACKED TO DYNAMICS 365","color":"preset2"})");
  auto o = other.open();
  n.link.crm_id = guid(4);
  REQUIRE(o->create(n).ok());
  CHECK(master_count(other, kTrack) == 1);
}

TEST_CASE(
    "U2: record_decision logs the user's decision from the explorer - the mark and category set",
    "[graph][u2]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  std::int64_t cursor = 0;
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  n.item.fields["FirstName"] = std::string("Decide");
  n.item.fields["LastName"] = std::string("Me");
  auto made = s->create(n);
  REQUIRE(made.ok());
  after(*s, cursor);
  StoreEvent track;
  track.entry_id = made->entry_id;
  track.action = Action::kTrack;
  auto seq = s->record_decision(track);
  REQUIRE(seq.ok());
  auto ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].seq == *seq);
  CHECK(ev[0].action == Action::kTrack);
  CHECK(ev[0].surface == Surface::kExplorer);
  CHECK(ev[0].kind == ItemKind::kContact);
  auto got = s->get(made->entry_id);
  REQUIRE(got.ok());
  CHECK(got->link.tracked);
  CHECK(got->categories == std::vector<std::string>{kTrack});

  StoreEvent untrack = track;
  untrack.action = Action::kUntrack;
  untrack.delete_in_crm = true;  // D2: the user designated it
  REQUIRE(s->record_decision(untrack).ok());
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].delete_in_crm);
  got = s->get(made->entry_id);
  REQUIRE(got.ok());
  CHECK(got->link == CrmLink{});  // as the user's untrack: the whole link goes
  CHECK(got->categories.empty());

  StoreEvent regarding = track;
  regarding.action = Action::kSetRegarding;
  const std::string key = got->change_key;
  REQUIRE(s->record_decision(regarding).ok());
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kSetRegarding);
  CHECK(s->get(made->entry_id)->change_key == key);  // a decision alone writes nothing

  StoreEvent other = track;
  other.action = Action::kUpdate;
  CHECK(s->record_decision(other).error().is(ErrorKind::kInvalid));

  StoreEvent unknown = track;
  unknown.entry_id = EntryId("contact:AAMkNoSuchItem");
  auto missing = s->record_decision(unknown);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().is(ErrorKind::kNotFound));
  CHECK(after(*s, cursor).empty());
}

TEST_CASE("P1: the lease is a hidden message written with If-Match", "[graph][lease]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto a = box.open();
  auto b = box.open(box.config("b.db"));  // another machine: its own state file
  LeaseStore* la = a->lease_store();
  LeaseStore* lb = b->lease_store();
  auto empty = la->read_lease();
  REQUIRE(empty.ok());
  CHECK(empty->version.empty());
  CHECK(empty->record.holder.empty());
  LeaseRecord rec{"client-a", 1, UtcTime::parse("2026-06-01T10:00:00.500Z").value()};
  auto v1 = la->write_lease("", rec);
  REQUIRE(v1.ok());
  auto seen = lb->read_lease();
  REQUIRE(seen.ok());
  CHECK(seen->record.holder == "client-a");
  CHECK(seen->record.epoch == 1);
  CHECK(seen->record.expires == rec.expires);
  CHECK(seen->version == *v1);
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
  CHECK(now->version == *v2);
  // Hidden: not a mail of the Inbox, Sent Items or Drafts, no event.
  for (ItemKind k : kAllItemKinds) {
    auto items = a->scan_headers_since(k, UtcTime{0});
    REQUIRE(items.ok());
    CHECK(items->empty());
  }
  auto ev = a->events_after(0, 100);
  REQUIRE(ev.ok());
  CHECK(ev->empty());
}

TEST_CASE("P1: two daemons never both act as primary", "[graph][lease]") {
  REQUIRE_GRAPH_EMULATOR();
  for (int round = 0; round < 3; ++round) {
    INFO("round " << round);
    Mailbox box;
    auto a = box.open();
    auto b = box.open(box.config("b.db"));
    // Racing for the first lease: at most one creates it.
    Result<std::string> ra = Error::Internal(""), rb = Error::Internal("");
    std::thread ta([&] {
      ra = a->lease_store()->write_lease("", LeaseRecord{"a", 1, UtcTime{0}});
    });
    std::thread tb([&] {
      rb = b->lease_store()->write_lease("", LeaseRecord{"b", 1, UtcTime{0}});
    });
    ta.join();
    tb.join();
    CHECK_FALSE((ra.ok() && rb.ok()));
    // Then two keepers ticking at the same instants: never both holding.
    LeaseKeeper ka(*a->lease_store(), system_clock(), "desk-a", Role::kPrimary, 60s, 5s);
    LeaseKeeper kb(*b->lease_store(), system_clock(), "desk-b", Role::kPrimary, 60s, 5s);
    for (int tick = 0; tick < 4; ++tick) {
      std::thread x([&] { (void)ka.tick(); });
      std::thread y([&] { (void)kb.tick(); });
      x.join();
      y.join();
      CHECK_FALSE((ka.may_act_as_primary() && kb.may_act_as_primary()));
    }
    // Ticks that collide every time may both lose their compare-and-set (safe, not live); a
    // keeper's own schedule then separates them: a tick alone takes the lease.
    if (!ka.may_act_as_primary() && !kb.may_act_as_primary()) (void)ka.tick();
    if (!ka.may_act_as_primary() && !kb.may_act_as_primary()) (void)kb.tick();
    CHECK_FALSE((ka.may_act_as_primary() && kb.may_act_as_primary()));
    CHECK((ka.may_act_as_primary() || kb.may_act_as_primary()));
    // The holder stops: the other takes over with a higher epoch.
    LeaseKeeper& holder = ka.may_act_as_primary() ? ka : kb;
    LeaseKeeper& other = ka.may_act_as_primary() ? kb : ka;
    const std::int64_t epoch = holder.state().record.epoch;
    REQUIRE(holder.release().ok());
    auto st = other.tick();
    REQUIRE(st.ok());
    CHECK(st->held);
    CHECK(st->record.epoch > epoch);
    CHECK_FALSE(holder.may_act_as_primary());
  }
}

TEST_CASE("T5: the handoff queue keeps order across clients - remove takes one", "[graph][queue]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto a = box.open();
  auto b = box.open(box.config("b.db"));
  HandoffQueue* qa = a->handoff_queue();
  HandoffQueue* qb = b->handoff_queue();
  CHECK(qa->depth().value() == 0);
  for (int i = 0; i < 3; ++i) {
    QueuedChange c;
    c.client_id = i % 2 ? "b" : "a";
    c.kind = i == 1 ? ItemKind::kTask : ItemKind::kContact;
    c.entry_id = EntryId("contact:E" + std::to_string(i));
    c.action = i == 2 ? Action::kUntrack : Action::kUpdate;
    c.delete_in_crm = i == 2;
    c.at = UtcTime::parse("2026-06-01T10:00:00Z").value();
    REQUIRE((i % 2 ? qb : qa)->enqueue(c).ok());
  }
  auto peeked = qb->peek(10);
  REQUIRE(peeked.ok());
  REQUIRE(peeked->size() == 3);
  for (int i = 0; i < 3; ++i) CHECK((*peeked)[i].entry_id.str() == "contact:E" + std::to_string(i));
  CHECK((*peeked)[1].kind == ItemKind::kTask);
  CHECK((*peeked)[2].delete_in_crm);
  CHECK((*peeked)[2].action == Action::kUntrack);
  REQUIRE(qa->remove((*peeked)[0].id).ok());
  CHECK(qb->depth().value() == 2);
  auto again = qa->remove((*peeked)[0].id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().is(ErrorKind::kNotFound));
  auto rest = qa->peek(1);
  REQUIRE(rest.ok());
  REQUIRE(rest->size() == 1);
  CHECK(rest->front().entry_id.str() == "contact:E1");
}
