// SPEC U6 on the in-memory CRM: every CRM update of a merge is conditional on the row
// version it was read with; when CRM moved in between (FakeCrm::edit_before_next_update, an
// edit that lands after the engine's read and before its write) the engine reads the record
// again and merges again (M2, M3), and never overwrites CRM blind.
#include <catch2/catch.hpp>

#include "world.hpp"

using namespace crmsync;
using namespace crmsync::test;

namespace {

const Value& field(const StoreItem& i, const char* name) {
  static const Value null;
  auto it = i.item.fields.find(name);
  return it == i.item.fields.end() ? null : it->second;
}

const Value& attr(const CrmRecord& r, const char* name) {
  static const Value null;
  auto it = r.attributes.find(name);
  return it == r.attributes.end() ? null : it->second;
}

// One more cycle writes nothing on either side (M5: both sides and the original state agree).
void second_run_changes_nothing(World& w) {
  w.reset_counters();
  auto r = w.sync();
  CHECK(w.store_writes() == 0);
  CHECK(w.crm_writes() == 0);
  CHECK(r.conflicts == 0);
}

// A synced contact; returns its entry id and record id.
std::pair<EntryId, CrmId> synced_contact(World& w, FieldMap fields) {
  EntryId e = w.add(ItemKind::kContact, std::move(fields));
  w.sync();
  return {e, *w.item(e).link.crm_id};
}

}  // namespace

TEST_CASE("U6 M2: CRM moves on another field between the read and the write - both edits survive") {
  World w;
  auto [e, id] = synced_contact(w, {{"FirstName", text("Ann")}, {"JobTitle", text("Engineer")}});
  w.mailbox->set(e, {{"JobTitle", text("Manager")}}, Surface::kNone).value();
  w.crm.edit_before_next_update(id, {{"firstname", text("Anna")}});
  w.reset_counters();
  auto r = w.sync();
  CHECK(r.item_errors == 0);
  CHECK(r.conflicts == 0);
  CHECK(w.crm.counters().updates == 1);    // the refused update wrote nothing
  CHECK(w.crm.counters().retrieves >= 2);  // the record read again after it
  CHECK(field(w.item(e), "FirstName") == text("Anna"));
  CHECK(field(w.item(e), "JobTitle") == text("Manager"));
  CHECK(attr(*w.crm.find(id), "firstname") == text("Anna"));
  CHECK(attr(*w.crm.find(id), "jobtitle") == text("Manager"));
  second_run_changes_nothing(w);
}

TEST_CASE(
    "U6 M2: both sides changed - CRM moves again before the write - the new merge is written") {
  // The paper's case (store A1 B1 C1, later CRM A2 B2) with a third CRM edit landing between
  // the engine's read of A2 B2 and its write of C1: B back to B0, and D3.
  World w;
  auto [e, id] = synced_contact(w, {{"FirstName", text("A0")},
                                    {"MiddleName", text("B0")},
                                    {"LastName", text("C0")},
                                    {"JobTitle", text("D0")}});
  w.mailbox
      ->set(e, {{"FirstName", text("A1")}, {"MiddleName", text("B1")}, {"LastName", text("C1")}},
            Surface::kNone)
      .value();
  w.clock.advance(std::chrono::seconds(10));
  w.crm.edit(id, {{"firstname", text("A2")}, {"middlename", text("B2")}});
  w.crm.edit_before_next_update(id, {{"middlename", text("B0")}, {"jobtitle", text("D3")}});
  auto r = w.sync();
  CHECK(r.item_errors == 0);
  StoreItem i = w.item(e);
  CrmRecord rec = *w.crm.find(id);
  CHECK(field(i, "FirstName") == text("A2"));
  CHECK(attr(rec, "firstname") == text("A2"));
  CHECK(field(i, "LastName") == text("C1"));
  CHECK(attr(rec, "lastname") == text("C1"));
  CHECK(field(i, "JobTitle") == text("D3"));
  CHECK(attr(rec, "jobtitle") == text("D3"));
  // B: the store's B1 against CRM's B0, CRM's change the more recent: the store's B2 (written
  // by the first merge) is not left behind.
  CHECK(field(i, "MiddleName") == attr(rec, "middlename"));
  second_run_changes_nothing(w);
}

TEST_CASE("U6 M3: CRM moves on the same field - the more recent edit wins - a conflict record") {
  World w;
  auto [e, id] = synced_contact(w, {{"LastName", text("Kim")}, {"JobTitle", text("Engineer")}});
  SECTION("CRM's edit is the more recent") {
    w.mailbox->set(e, {{"JobTitle", text("Manager")}}, Surface::kNone).value();
    w.clock.advance(std::chrono::seconds(5));
    w.crm.edit_before_next_update(id, {{"jobtitle", text("Director")}});
    auto r = w.sync();
    CHECK(r.conflicts == 1);
    CHECK(field(w.item(e), "JobTitle") == text("Director"));
    CHECK(attr(*w.crm.find(id), "jobtitle") == text("Director"));
    auto c = w.cache->conflicts(10).value();
    REQUIRE(c.size() == 1);
    CHECK(c[0].field == "JobTitle");
    CHECK(c[0].store_value == text("Manager"));
    CHECK(c[0].crm_value == text("Director"));
    CHECK(c[0].winner == "crm");
  }
  SECTION("the store's edit is the more recent") {
    const UtcTime now = w.clock.now();
    w.clock.set_wall(UtcTime{now.ms + 3'600'000});
    w.mailbox->set(e, {{"JobTitle", text("Manager")}}, Surface::kNone).value();
    w.clock.set_wall(now);
    w.crm.edit_before_next_update(id, {{"jobtitle", text("Director")}});
    auto r = w.sync();
    CHECK(r.conflicts == 1);
    CHECK(field(w.item(e), "JobTitle") == text("Manager"));
    CHECK(attr(*w.crm.find(id), "jobtitle") == text("Manager"));
    auto c = w.cache->conflicts(10).value();
    REQUIRE(c.size() == 1);
    CHECK(c[0].store_value == text("Manager"));
    CHECK(c[0].crm_value == text("Director"));
    CHECK(c[0].winner == "store");
  }
  second_run_changes_nothing(w);
}

TEST_CASE("U6 E1: CRM moving at every attempt leaves the item pending - never a blind write") {
  World w;
  auto [e, id] = synced_contact(w, {{"LastName", text("Busy")}, {"JobTitle", text("T0")}});
  w.mailbox->set(e, {{"JobTitle", text("store")}}, Surface::kNone).value();
  for (int i = 1; i <= 3; ++i)
    w.crm.edit_before_next_update(id,
                                  {{"telephone1", text(("555-000" + std::to_string(i)).c_str())}});
  w.reset_counters();
  auto r = w.sync();
  CHECK(r.result == CycleResult::kItemErrors);
  CHECK(r.item_errors == 1);
  CHECK(w.crm.counters().updates == 0);  // each attempt refused; the other user's edits landed
  CHECK(attr(*w.crm.find(id), "jobtitle") == text("T0"));
  CHECK(attr(*w.crm.find(id), "telephone1") == text("555-0003"));
  auto errors = w.cache->errors(10).value();
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].error, Catch::Contains("changed in CRM again"));
  // CRM holds still: the retry (after its backoff) writes the merge.
  w.clock.advance(std::chrono::minutes(5));
  auto later = w.sync();
  CHECK(later.item_errors == 0);
  CHECK(attr(*w.crm.find(id), "jobtitle") == text("store"));
  CHECK(field(w.item(e), "BusinessTelephoneNumber") == text("555-0003"));
  CHECK(w.cache->errors(10).value().empty());
  second_run_changes_nothing(w);
}

TEST_CASE("U6: a CRM without row versions - the record is read again right before the write") {
  World w;
  w.crm.set_row_versions(false);
  auto [e, id] = synced_contact(w, {{"FirstName", text("Old")}, {"JobTitle", text("T0")}});
  w.crm.edit(id, {{"firstname", text("New")}});
  w.mailbox->set(e, {{"JobTitle", text("T1")}}, Surface::kNone).value();
  w.crm.reset_counters();
  auto r = w.sync();
  CHECK(r.item_errors == 0);
  CHECK(w.crm.counters().retrieves == 1);
  CHECK(w.crm.counters().updates == 1);
  CHECK(field(w.item(e), "FirstName") == text("New"));
  CHECK(attr(*w.crm.find(id), "firstname") == text("New"));
  CHECK(attr(*w.crm.find(id), "jobtitle") == text("T1"));
  second_run_changes_nothing(w);
}

TEST_CASE("U6 G1: with CRM -> store off, a CRM edit between the read and the write stays in CRM") {
  World w;
  auto [e, id] = synced_contact(
      w, {{"FirstName", text("Ann")}, {"JobTitle", text("Clerk")}, {"Department", text("Sales")}});
  w.settings.entities[CrmEntity::kContact] = false;
  w.restart();
  w.mailbox->set(e, {{"Department", text("Mailbox's")}}, Surface::kNone).value();
  w.crm.edit_before_next_update(id, {{"jobtitle", text("Manager")}, {"department", text("CRM's")}});
  auto r = w.sync();
  CHECK(r.item_errors == 0);
  CHECK(field(w.item(e), "JobTitle") == text("Clerk"));  // nothing comes back to the store
  CHECK(field(w.item(e), "Department") == text("Mailbox's"));
  CHECK(attr(*w.crm.find(id), "jobtitle") == text("Manager"));  // and CRM's edit is not undone
  CHECK(attr(*w.crm.find(id), "department") == text("Mailbox's"));
  auto c = w.cache->conflicts(10).value();
  REQUIRE(c.size() == 1);
  CHECK(c[0].field == "Department");
  CHECK(c[0].crm_value == text("CRM's"));
  CHECK(c[0].winner == "store");
}

TEST_CASE("U6 C3: a crash at any step of a merge that met a moved CRM loses neither edit") {
  auto setup = [](World& w) {
    auto [e, id] = synced_contact(w, {{"FirstName", text("Ann")}, {"JobTitle", text("Engineer")}});
    w.mailbox->set(e, {{"JobTitle", text("Manager")}}, Surface::kNone).value();
    w.crm.edit_before_next_update(id, {{"firstname", text("Anna")}});
  };
  auto verify = [](World& w) {
    auto items = w.items(ItemKind::kContact);
    REQUIRE(items.size() == 1);
    CHECK(field(items[0], "FirstName") == text("Anna"));
    CHECK(field(items[0], "JobTitle") == text("Manager"));
    auto recs = w.crm.all(CrmEntity::kContact);
    REQUIRE(recs.size() == 1);
    CHECK(attr(recs[0], "firstname") == text("Anna"));
    CHECK(attr(recs[0], "jobtitle") == text("Manager"));
  };
  CHECK(crash_at_every_point(setup, verify) > 0);
}
