// The mock mailbox's side of the user's decisions (SPEC U2: StoreAdapter::record_decision).
#include <catch2/catch.hpp>

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
