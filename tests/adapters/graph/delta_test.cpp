// Change detection on graph-emulator: delta rounds turned into events (the daemon's own writes
// recognised, C5), a 410 answered by a full round without duplicates, the calendar's window,
// adaptive polling, creates single across lost replies (X1), throttling (E3), If-Match (412),
// and a state file that belongs to another mailbox.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <thread>

#include "mailbox.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using graphtest::Mailbox;
using graphtest::str_of;

namespace {

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "7a2b0000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

NewStoreItem contact(const std::string& first, std::optional<CrmId> crm = std::nullopt) {
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  n.item.fields["FirstName"] = first;
  if (crm) n.link = CrmLink{true, *crm, true, std::nullopt};
  return n;
}

std::vector<StoreEvent> after(StoreAdapter& s, std::int64_t& cursor) {
  auto ev = s.events_after(cursor, 10'000);
  REQUIRE(ev.ok());
  if (!ev->empty()) cursor = ev->back().seq;
  return *ev;
}

// (action, entry id) of each event.
std::multiset<std::pair<Action, std::string>> summary(const std::vector<StoreEvent>& ev) {
  std::multiset<std::pair<Action, std::string>> out;
  for (const auto& e : ev) out.emplace(e.action, e.entry_id.str());
  return out;
}

std::string when(int days, int hour) {
  const std::int64_t day = 86'400'000;
  return UtcTime{(system_clock().now().ms / day + days) * day + hour * 3'600'000}.iso().substr(0,
                                                                                               19);
}

std::string event_json(const std::string& subject, int days) {
  return R"({"subject":")" + subject + R"(","start":{"dateTime":")" + when(days, 9) +
         R"(","timeZone":"UTC"},"end":{"dateTime":")" + when(days, 10) + R"(","timeZone":"UTC"}})";
}

// How many contacts of the mailbox carry this CRM id (through Graph's own $filter).
std::size_t with_crm_id(Mailbox& box, const std::string& collection, const CrmId& id) {
  const std::string filter =
      "singleValueExtendedProperties/any(ep: ep/id eq 'String "
      "{c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35} Name CrmId' and ep/value eq '" +
      id.str() + "')";
  auto listed = box.user("GET", collection + "?$top=100&$filter=" + graphtest::url_encode(filter));
  return listed["value"].Size();
}

}  // namespace

TEST_CASE("S1 C5: the user's changes through Graph are events - the daemon's own writes not twice",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  std::int64_t cursor = 0;
  CHECK(after(*s, cursor).empty());  // the baseline: what was there is the scan's (S2)
  auto own = s->create(contact("Own"));
  REQUIRE(own.ok());
  auto ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kCreate);

  auto theirs = box.user("POST", "contacts", R"({"givenName":"Theirs"})");
  box.user("PATCH", "contacts/" + Mailbox::gid(own->entry_id), R"({"jobTitle":"Boss"})");
  auto task = box.user("GET", "todo/lists");
  std::string list;
  for (const auto& l : task["value"].GetArray())
    if (str_of(l, "wellknownListName") == "defaultList") list = str_of(l, "id");
  auto todo = box.user("POST", "todo/lists/" + list + "/tasks", R"({"title":"From To Do"})");
  auto meeting = box.user("POST", "events", event_json("In the window", 3));
  ev = after(*s, cursor);
  CHECK(summary(ev) == std::multiset<std::pair<Action, std::string>>{
                           {Action::kCreate, "contact:" + str_of(theirs, "id")},
                           {Action::kUpdate, own->entry_id.str()},
                           {Action::kCreate, "task:" + str_of(todo, "id")},
                           {Action::kCreate, "appointment:" + str_of(meeting, "id")}});
  for (const auto& e : ev) CHECK(e.surface == Surface::kNone);
  // The daemon's update is its own: no event but the one it logged.
  auto current = s->get(own->entry_id);
  REQUIRE(current.ok());
  REQUIRE(s->update(own->entry_id, current->change_key, {{"JobTitle", std::string("CEO")}},
                    std::nullopt)
              .ok());
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUpdate);

  box.user("DELETE", "contacts/" + str_of(theirs, "id"));
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kDelete);
  CHECK(ev[0].entry_id.str() == "contact:" + str_of(theirs, "id"));
  CHECK(after(*s, cursor).empty());
}

TEST_CASE("410: syncStateNotFound gets a full round that reports only what changed",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box(true);
  auto s = box.open();
  std::int64_t cursor = 0;
  auto a = s->create(contact("A"));
  auto b = box.user("POST", "contacts", R"({"givenName":"B"})");
  auto kept = box.user("POST", "contacts", R"({"givenName":"Kept"})");
  REQUIRE(a.ok());
  after(*s, cursor);
  after(*s, cursor);
  // While the tokens are lost: one new, one changed, one deleted, one untouched.
  auto c = box.user("POST", "contacts", R"({"givenName":"C"})");
  box.user("PATCH", "contacts/" + str_of(b, "id"), R"({"surname":"Changed"})");
  box.user("DELETE", "contacts/" + Mailbox::gid(a->entry_id));
  REQUIRE(box.emu->faults(R"({"sync_state_not_found":6})"));
  auto ev = after(*s, cursor);
  CHECK(summary(ev) == std::multiset<std::pair<Action, std::string>>{
                           {Action::kCreate, "contact:" + str_of(c, "id")},
                           {Action::kUpdate, "contact:" + str_of(b, "id")},
                           {Action::kDelete, a->entry_id.str()}});
  // Every token forgotten at once: the next full round finds nothing new.
  REQUIRE(box.emu->faults(R"({"expire_delta_tokens":true})"));
  CHECK(after(*s, cursor).empty());
  box.user("PATCH", "contacts/" + str_of(kept, "id"), R"({"surname":"Later"})");
  ev = after(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].entry_id.str() == "contact:" + str_of(kept, "id"));
}

TEST_CASE("calendar: an event leaving the window is no deletion - a deleted one is",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  FakeClock clock(system_clock().now());
  auto c = box.config();
  c.calendar_past_days = 1;
  c.calendar_future_days = 5;
  auto s = box.open(c, clock);
  std::int64_t cursor = 0;
  after(*s, cursor);
  auto leaving = box.user("POST", "events", event_json("Leaving", 1));
  auto deleted = box.user("POST", "events", event_json("Deleted", 2));
  auto ev = after(*s, cursor);
  CHECK(ev.size() == 2);
  // Moved a month ahead: out of the window (calendarView/delta says nothing about it).
  box.user("PATCH", "events/" + str_of(leaving, "id"),
           R"({"start":{"dateTime":")" + when(30, 9) +
               R"(","timeZone":"UTC"},"end":{"dateTime":")" + when(30, 10) +
               R"(","timeZone":"UTC"}})");
  box.user("DELETE", "events/" + str_of(deleted, "id"));
  ev = after(*s, cursor);
  CHECK(summary(ev) == std::multiset<std::pair<Action, std::string>>{
                           {Action::kDelete, "appointment:" + str_of(deleted, "id")}});
  // A week later the window moves: a full round on the new window, and what it does not list
  // (the event a month ahead, still outside) is asked for before anything is called deleted.
  auto fresh = box.user("POST", "events", event_json("In the new window", 9));
  clock.advance(std::chrono::hours(24 * 8));
  ev = after(*s, cursor);
  CHECK(summary(ev) == std::multiset<std::pair<Action, std::string>>{
                           {Action::kCreate, "appointment:" + str_of(fresh, "id")}});
  CHECK(s->get(EntryId("appointment:" + str_of(leaving, "id"))).ok());
  CHECK(after(*s, cursor).empty());
}

TEST_CASE(
    "S1: wait_for_events polls the delta links - a user's edit wakes it, idle polls slow down",
    "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto c = box.config();
  c.poll_min = 20ms;
  c.poll_max = 400ms;
  auto s = box.open(c);
  std::int64_t cursor = 0;
  after(*s, cursor);
  std::thread user([&] {
    std::this_thread::sleep_for(300ms);
    box.user("POST", "contacts", R"({"givenName":"Wake"})");
  });
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(s->wait_for_events(cursor, 20s));
  user.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  after(*s, cursor);
  // Idle: the interval doubles from poll_min to poll_max (rounds of six delta requests).
  const int before = box.log->count.load();
  CHECK_FALSE(s->wait_for_events(cursor, 2s));
  const int rounds = (box.log->count.load() - before) / 6;
  CHECK(rounds >= 3);
  CHECK(rounds <= 12);  // a fixed 20 ms poll would make about a hundred
}

TEST_CASE("X1: a create whose reply is lost is found by its CRM id - never a second copy",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto hook = std::make_unique<graphtest::HookTransport>();
  int lost = 0;
  hook->lose = [&](const http::Request& r) {
    if (r.method != "POST" || lost >= 3) return false;
    const bool create = r.url.find("/contacts") != std::string::npos ||
                        r.url.find("/tasks") != std::string::npos ||
                        r.url.find("/calendar/events") != std::string::npos;
    if (create) ++lost;
    return create;
  };
  auto c = box.config();
  c.batch_size = 1;  // one POST per item: each create loses its first reply
  auto s = box.open_on(std::move(hook), c);
  auto made = s->create(contact("Once", guid(1)));
  REQUIRE(made.ok());
  NewStoreItem task;
  task.folder = Folder::kTasks;
  task.item.kind = ItemKind::kTask;
  task.item.fields["Subject"] = std::string("Once");
  task.link = CrmLink{true, guid(2), true, std::nullopt};
  REQUIRE(s->create(task).ok());
  NewStoreItem meeting;
  meeting.folder = Folder::kCalendar;
  meeting.item.kind = ItemKind::kAppointment;
  meeting.item.fields = {{"Subject", std::string("Once")},
                         {"Start", UtcTime::parse(when(2, 9) + "Z").value()},
                         {"End", UtcTime::parse(when(2, 10) + "Z").value()}};
  meeting.link = CrmLink{true, guid(3), true, std::nullopt};
  auto ev = s->create(meeting);
  REQUIRE(ev.ok());
  CHECK(lost == 3);
  CHECK(with_crm_id(box, "contacts", guid(1)) == 1);
  CHECK(with_crm_id(box, "events", guid(3)) == 1);
  auto tasks = s->scan_headers_since(ItemKind::kTask, UtcTime{0});
  REQUIRE(tasks.ok());
  CHECK(tasks->size() == 1);
}

TEST_CASE(
    "X1: a $batch of creates whose reply is lost fails as transient - the look-up finds each once",
    "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto hook = std::make_unique<graphtest::HookTransport>();
  bool dropped = false;
  hook->lose = [&](const http::Request& r) {
    if (dropped || r.url.find("$batch") == std::string::npos ||
        r.body.find("POST") == std::string::npos)
      return false;
    return dropped = true;
  };
  auto s = box.open_on(std::move(hook), box.config());
  std::vector<NewStoreItem> items;
  std::vector<CrmId> ids;
  for (int i = 0; i < 25; ++i) {
    ids.push_back(guid(100 + i));
    items.push_back(contact("Batch" + std::to_string(i), ids.back()));
  }
  auto made = s->create_many(items);
  REQUIRE(made.size() == 25);
  std::size_t failed = 0;
  for (const auto& m : made)
    if (!m.ok()) {
      CHECK(m.error().retryable());
      ++failed;
    }
  CHECK(failed == 20);  // the first batch of 20 lost its reply; the second went through
  auto found = s->find_by_crm_ids(ids);
  REQUIRE(found.size() == 25);
  for (const auto& f : found) {
    REQUIRE(f.ok());
    CHECK(f->has_value());
  }
  auto all = box.user("GET", "contacts?$top=100");
  CHECK(all["value"].Size() == 25);
}

TEST_CASE("E3: a 429 storm is ridden out honouring Retry-After - nothing lost or doubled",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box(true);
  std::vector<std::chrono::milliseconds> waits;
  auto c = box.config();
  c.max_attempts = 12;
  c.sleep = [&](std::chrono::milliseconds d) { waits.push_back(d); };
  auto s = box.open(c);
  REQUIRE(s->events_after(0, 10).ok());
  REQUIRE(box.emu->faults(R"({"throttle_rate":0.4,"retry_after_s":3,"seed":11})"));
  std::vector<NewStoreItem> items;
  for (int i = 0; i < 30; ++i) items.push_back(contact("T" + std::to_string(i), guid(200 + i)));
  auto made = s->create_many(items);
  std::vector<EntryId> ids;
  for (const auto& m : made) {
    REQUIRE(m.ok());
    ids.push_back(m->entry_id);
  }
  for (const auto& g : s->get_many(ids)) CHECK(g.ok());
  REQUIRE(s->events_after(0, 100).ok());
  REQUIRE(box.emu->faults("{}"));
  CHECK(std::any_of(waits.begin(), waits.end(), [](auto w) { return w >= 3000ms; }));
  auto all = box.user("GET", "contacts?$top=100");
  CHECK(all["value"].Size() == 30);
}

TEST_CASE("412: an update racing the user's edit is kConflict - the user's edit stays",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto hook = std::make_unique<graphtest::HookTransport>();
  auto* h = hook.get();
  auto s = box.open_on(std::move(hook), box.config());
  auto made = s->create(contact("Race"));
  REQUIRE(made.ok());
  bool raced = false;
  h->before = [&](const http::Request& r) {
    if (r.method != "PATCH" || raced) return;
    raced = true;
    box.user("PATCH", "contacts/" + Mailbox::gid(made->entry_id), R"({"jobTitle":"User"})");
  };
  auto r = s->update(made->entry_id, made->change_key, {{"JobTitle", std::string("Daemon")}},
                     std::nullopt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kConflict));
  auto got = s->get(made->entry_id);
  REQUIRE(got.ok());
  CHECK(got->item.text("JobTitle") == "User");
}

TEST_CASE("a state file is one mailbox's - another's token or config is refused",
          "[graph][delta]") {
  REQUIRE_GRAPH_EMULATOR();
  Mailbox box;
  auto s = box.open();
  REQUIRE(s->events_after(0, 10).ok());
  // The token file now signs in as someone else: nothing of theirs is taken for Alice's.
  std::ofstream(box.dir.file("token")) << box.emu->add_user(graphtest::unique_upn()) << "\n";
  auto other = box.open();
  auto r = other->events_after(0, 10);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kCorrupt));
  CHECK_THAT(r.error().message(), Catch::Contains("another mailbox"));
  auto c = box.config();
  c.user = "someone@example.com";
  auto refused = open_graph_store(c, system_clock());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().is(ErrorKind::kCorrupt));
}
