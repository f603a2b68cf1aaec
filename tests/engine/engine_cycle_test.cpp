// The cycle's steps handing work to each other (core/src/cycle_context.hpp): what one step
// found out is not found out again by the next.
#include <catch2/catch.hpp>

#include "crmsync/model/mapping.hpp"
#include "world.hpp"

using namespace crmsync;
using namespace crmsync::test;

namespace {

// A UTC zone that counts how often it is asked: crm_to_store() asks it once per task date.
class CountingZone final : public TimeZone {
 public:
  std::chrono::minutes utc_offset(UtcTime) const override {
    ++asked;
    return std::chrono::minutes(0);
  }
  mutable int asked = 0;
};

}  // namespace

TEST_CASE("C5: a record changed in CRM goes through crm_to_store once a cycle") {
  World w;
  CountingZone zone;
  w.settings.zone = &zone;
  w.restart();
  CrmId id = w.crm.seed(CrmEntity::kTask, {{"subject", text("Plan")},
                                           {"scheduledstart", Value{at("2030-01-01T09:00:00Z")}},
                                           {"scheduledend", Value{at("2030-01-02T09:00:00Z")}}});
  w.sync();
  REQUIRE(w.items(ItemKind::kTask).size() == 1);
  const EntryId task = w.items(ItemKind::kTask).front().entry_id;

  w.crm.edit(id, {{"scheduledend", Value{at("2030-01-03T09:00:00Z")}}});
  zone.asked = 0;
  REQUIRE(crm_to_store(CrmEntity::kTask, w.crm.find(id)->attributes, MapContext{&zone, true}).ok());
  const int one_mapping = zone.asked;
  REQUIRE(one_mapping > 0);

  zone.asked = 0;
  w.sync();  // prepare maps it to see that it is news (C5); the apply step takes that mapping
  CHECK(w.item(task).item.fields.at("DueDate") == Value{Date::parse("2030-01-03").value()});
  CHECK(zone.asked == one_mapping);

  // A CRM without row versions cannot show that the change row holds the version prepare
  // mapped: the apply step maps it again, and the outcome is the same.
  w.crm.set_row_versions(false);
  w.crm.edit(id, {{"scheduledend", Value{at("2030-01-04T09:00:00Z")}}});
  zone.asked = 0;
  w.sync();
  CHECK(w.item(task).item.fields.at("DueDate") == Value{Date::parse("2030-01-04").value()});
  CHECK(zone.asked == 2 * one_mapping);
}

TEST_CASE("E1 E3: the engine acts on the retry class an error was born with - not on its kind") {
  World w;
  EntryId a = w.add(ItemKind::kContact, {{"LastName", text("A")}});
  EntryId b = w.add(ItemKind::kContact, {{"LastName", text("B")}});
  w.sync();
  w.mailbox->set(a, {{"JobTitle", text("Boss")}}, Surface::kNone).value();
  w.mailbox->set(b, {{"JobTitle", text("Chief")}}, Surface::kNone).value();
  auto job_title = [&](const EntryId& e) {
    const CrmRecord rec = w.record_of(e);
    auto it = rec.attributes.find("jobtitle");
    return it == rec.attributes.end() ? Value{} : it->second;
  };

  SECTION("a record CRM refuses to this user is that item's failure (E1): the others go on") {
    w.crm.fail_next_writes(
        1, Error::Permission("no WriteAccess right(s) for record").with_retry(Retry::kItem));
    auto r = w.sync();
    CHECK(r.result == CycleResult::kItemErrors);
    CHECK(r.item_errors == 1);
    CHECK(job_title(a) == Value{});
    CHECK(job_title(b) == text("Chief"));
    w.clock.advance(std::chrono::hours(1));  // past its backoff, and no longer refused
    CHECK(w.sync().result == CycleResult::kOk);
    CHECK(job_title(a) == text("Boss"));
  }
  SECTION("a refusal of the user ends the cycle (E3): the item keeps its change") {
    w.crm.fail_next_writes(1, Error::Permission("the user is disabled"));
    auto r = w.sync();
    CHECK(r.result == CycleResult::kFailed);
    CHECK(r.item_errors == 1);
    CHECK(job_title(b) == Value{});
    CHECK(w.sync().result == CycleResult::kOk);  // b; a waits for its backoff
    CHECK(job_title(b) == text("Chief"));
    w.clock.advance(std::chrono::hours(1));
    w.sync();
    CHECK(job_title(a) == text("Boss"));
  }
  SECTION("any kind born as the service's failure ends the cycle") {
    w.crm.fail_next_writes(
        1, Error::Invalid("the organization is read-only").with_retry(Retry::kWait));
    auto r = w.sync();
    CHECK(r.result == CycleResult::kFailed);
    REQUIRE(r.failure);
    CHECK(r.failure->is(ErrorKind::kInvalid));
    CHECK(job_title(b) == Value{});
  }
}
