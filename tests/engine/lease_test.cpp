// SPEC §6: the primary lease and the handoff queue, on the mock mailbox, with a fake clock.
#include <catch2/catch.hpp>

#include "crmsync/core/lease.hpp"
#include "world.hpp"

using namespace crmsync;
using namespace crmsync::test;
using namespace std::chrono_literals;

namespace {

// A lease store whose writes can be made to fail (a primary cut off from the mailbox).
class FlakyLease final : public LeaseStore {
 public:
  explicit FlakyLease(LeaseStore& inner) : inner_(inner) {}
  Result<Versioned> read_lease() override {
    if (down) return Error::Transient("mailbox unreachable");
    return inner_.read_lease();
  }
  Result<std::string> write_lease(const std::string& v, const LeaseRecord& r) override {
    if (down) return Error::Transient("mailbox unreachable");
    return inner_.write_lease(v, r);
  }
  bool down = false;

 private:
  LeaseStore& inner_;
};

}  // namespace

TEST_CASE("P1: one primary at a time - each new holder gets a higher epoch") {
  World w;
  LeaseStore& store = *w.mailbox->lease_store();
  LeaseKeeper desk(store, w.clock, "desk", Role::kPrimary, 60s, 5s);
  LeaseKeeper laptop(store, w.clock, "laptop", Role::kPrimary, 60s, 5s);
  auto a = desk.tick().value();
  CHECK(a.held);
  CHECK(a.record.epoch == 1);
  auto b = laptop.tick().value();
  CHECK_FALSE(b.held);
  CHECK(b.record.holder == "desk");
  CHECK_FALSE(laptop.may_act_as_primary());
  // The desk renews every ttl/3 and keeps it.
  for (int i = 0; i < 5; ++i) {
    w.clock.advance(desk.renew_interval());
    CHECK(desk.tick().value().held);
    CHECK_FALSE(laptop.tick().value().held);
  }
  CHECK(desk.state().record.epoch == 1);
  SECTION("a dead primary is replaced once its lease expired, plus the skew") {
    w.clock.advance(60s);
    CHECK_FALSE(laptop.tick().value().held);  // expired, but within the skew
    w.clock.advance(6s);
    auto taken = laptop.tick().value();
    CHECK(taken.held);
    CHECK(taken.record.epoch == 2);
    CHECK_FALSE(desk.may_act_as_primary());
    CHECK_FALSE(desk.tick().value().held);  // the old holder sees it lost
  }
  SECTION("graceful stop releases the lease at once") {
    REQUIRE(desk.release().ok());
    CHECK_FALSE(desk.may_act_as_primary());
    auto taken = laptop.tick().value();
    CHECK(taken.held);
    CHECK(taken.record.epoch == 2);
  }
}

TEST_CASE("P1: a holder whose renewal failed acts no more after acquire + TTL - skew") {
  World w;
  FlakyLease flaky(*w.mailbox->lease_store());
  LeaseKeeper desk(flaky, w.clock, "desk", Role::kPrimary, 60s, 5s);
  REQUIRE(desk.tick().value().held);
  flaky.down = true;
  w.clock.advance(20s);
  CHECK_FALSE(desk.tick().ok());
  CHECK(desk.may_act_as_primary());
  w.clock.advance(34s);  // 54 s after the acquire: still inside 60 - 5
  CHECK(desk.may_act_as_primary());
  w.clock.advance(1s);  // 55 s: no more
  CHECK_FALSE(desk.may_act_as_primary());
  // The wall clock jumping back does not extend it: the deadline is monotonic.
  w.clock.set_wall(UtcTime{w.clock.now().ms - 3'600'000});
  CHECK_FALSE(desk.may_act_as_primary());
}

TEST_CASE("P1: the engine stops acting as primary when the lease may have expired") {
  World w;
  for (int i = 0; i < 3; ++i) w.crm.seed(CrmEntity::kContact, {{"lastname", text("L")}});
  CycleOptions o;
  o.may_act_as_primary = [] { return false; };
  auto r = w.sync(o);
  CHECK(r.result == CycleResult::kFailed);
  CHECK(r.failure->kind() == ErrorKind::kPermission);
  CHECK(w.items(ItemKind::kContact).empty());
  w.sync();
  CHECK(w.items(ItemKind::kContact).size() == 3);
}

TEST_CASE("P2: a secondary never takes the lease - roaming clients all act as primary") {
  World w;
  LeaseStore& store = *w.mailbox->lease_store();
  LeaseKeeper secondary(store, w.clock, "s", Role::kSecondary, 60s, 5s);
  CHECK_FALSE(secondary.tick().value().held);
  CHECK(store.read_lease().value().record.holder.empty());
  w.clock.advance(1h);
  CHECK_FALSE(secondary.tick().value().held);
  LeaseKeeper roaming1(store, w.clock, "r1", Role::kRoaming, 60s, 5s);
  LeaseKeeper roaming2(store, w.clock, "r2", Role::kRoaming, 60s, 5s);
  CHECK(roaming1.may_act_as_primary());
  CHECK(roaming2.may_act_as_primary());
}

TEST_CASE("P1: two keepers racing for a free lease: exactly one wins") {
  World w;
  auto second = open_mock_mailbox(w.dir.file("mailbox.db"), w.clock).value();
  LeaseKeeper a(*w.mailbox->lease_store(), w.clock, "a", Role::kPrimary, 60s, 5s);
  LeaseKeeper b(*second->lease_store(), w.clock, "b", Role::kPrimary, 60s, 5s);
  // Both read "free"; the second write fails its compare-and-swap.
  auto v = w.mailbox->lease_store()->read_lease().value();
  REQUIRE(w.mailbox->lease_store()
              ->write_lease(v.version, {"a", 1, UtcTime{w.clock.now().ms + 60000}})
              .ok());
  auto lost =
      second->lease_store()->write_lease(v.version, {"b", 1, UtcTime{w.clock.now().ms + 60000}});
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().kind() == ErrorKind::kConflict);
  CHECK(a.tick().value().held);
  CHECK_FALSE(b.tick().value().held);
}

TEST_CASE("T5 P3: a secondary's change waits in the queue until a primary applies it") {
  World w;
  w.settings.role = Role::kSecondary;
  w.settings.client_id = "laptop";
  w.restart();
  EntryId c =
      w.add(ItemKind::kContact, {{"LastName", text("From the laptop")}}, true, Surface::kInspector);
  auto r = w.sync();
  CHECK(r.queued >= 1);
  CHECK(w.crm.all(CrmEntity::kContact).empty());
  CHECK(w.mailbox->handoff_queue()->depth().value() >= 1);
  // No primary for a while: nothing is lost, the change waits.
  w.clock.advance(2h);
  w.sync();
  CHECK(w.crm.all(CrmEntity::kContact).empty());
  // A primary on the same mailbox, with its own cache, comes back.
  auto primary_cache = Cache::open(w.dir.file("primary-cache.db")).value();
  EngineSettings ps;
  ps.client_id = "desk";
  Engine primary(*primary_cache, w.store, w.crm, w.clock, ps);
  auto pr = primary.run_cycle();
  CHECK(pr.dequeued >= 1);
  CHECK(w.mailbox->handoff_queue()->depth().value() == 0);
  REQUIRE(w.item(c).link.crm_id);
  CHECK(w.crm.all(CrmEntity::kContact).size() == 1);
}

TEST_CASE("T5: a primary-role client without the lease acts as a secondary") {
  World w;
  w.add(ItemKind::kTask, {{"Subject", text("Queued")}}, true, Surface::kExplorer);
  EntryId mail =
      w.add(ItemKind::kEmail, {{"Subject", text("Tracked now")}}, true, Surface::kExplorer);
  CycleOptions o;
  o.role = Role::kSecondary;
  auto r = w.sync(o);
  CHECK(r.queued >= 1);
  CHECK(w.crm.all(CrmEntity::kTask).empty());
  CHECK(w.item(mail).link.crm_id);
}

TEST_CASE("C3: a crash between recording a queued change and removing it loses nothing") {
  auto setup = [](World& w) {
    w.mailbox->handoff_queue()
        ->enqueue({"", "laptop", ItemKind::kContact,
                   w.add(ItemKind::kContact, {{"LastName", text("Q")}}), Action::kTrack, false,
                   w.clock.now()})
        .value();
  };
  auto verify = [](World& w) {
    CHECK(w.crm.all(CrmEntity::kContact).size() == 1);
    CHECK(w.mailbox->handoff_queue()->depth().value() == 0);
  };
  crash_at_every_point(setup, verify);
}
