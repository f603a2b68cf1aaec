// The three-way merge as a pure function (SPEC §3).
#include <catch2/catch.hpp>

#include "crmsync/core/merge.hpp"

using namespace crmsync;

namespace {
Value t(const char* s) {
  return Value{std::string(s)};
}
MergeOutcome run(const FieldMap& store, long store_t, const FieldMap& crm, long crm_t,
                 const FieldMap* orig) {
  return merge_fields(
      MergeInput{CrmEntity::kContact, &store, UtcTime{store_t}, &crm, UtcTime{crm_t}, orig});
}
}  // namespace

TEST_CASE("M2: the paper's A/B/C example - as a pure merge") {
  FieldMap orig{{"FirstName", t("A0")}, {"MiddleName", t("B0")}, {"LastName", t("C0")}};
  FieldMap store{{"FirstName", t("A1")}, {"MiddleName", t("B1")}, {"LastName", t("C1")}};
  FieldMap crm{{"FirstName", t("A2")}, {"MiddleName", t("B2")}, {"LastName", t("C0")}};
  auto out = run(store, 100, crm, 200, &orig);
  CHECK(out.merged ==
        FieldMap{{"FirstName", t("A2")}, {"MiddleName", t("B2")}, {"LastName", t("C1")}});
  CHECK(out.to_store == FieldMap{{"FirstName", t("A2")}, {"MiddleName", t("B2")}});
  CHECK(out.to_crm == FieldMap{{"LastName", t("C1")}});
  REQUIRE(out.conflicts.size() == 2);
  CHECK(out.conflicts[0].store_value == t("A1"));
  CHECK(out.conflicts[0].crm_won);
}

TEST_CASE("M1: nothing changed means nothing to write") {
  FieldMap f{{"FirstName", t("A")}};
  auto out = run(f, 1, f, 2, &f);
  CHECK(out.to_store.empty());
  CHECK(out.to_crm.empty());
  CHECK(out.conflicts.empty());
}

TEST_CASE("M1: a cleared field is a change too") {
  FieldMap orig{{"FirstName", t("A")}};
  auto out = run({}, 5, orig, 1, &orig);
  CHECK(out.to_crm.count("FirstName") == 1);
  CHECK(is_null(out.to_crm.at("FirstName")));
  CHECK(out.merged.empty());
}

TEST_CASE("M3: both sides changed to the same value: no conflict") {
  FieldMap orig{{"FirstName", t("A")}};
  FieldMap both{{"FirstName", t("B ")}};
  FieldMap crm{{"FirstName", t("B")}};
  auto out = run(both, 1, crm, 2, &orig);
  CHECK(out.conflicts.empty());
  CHECK(out.to_store.empty());
  CHECK(out.to_crm.empty());
}

TEST_CASE("E2: an empty base keeps equal fields - copies one-sided ones - differing take CRM's") {
  FieldMap store{{"FirstName", t("Ann")}, {"JobTitle", t("S")}, {"LastName", t("Lee")}};
  FieldMap crm{{"JobTitle", t("C")}, {"LastName", t("Lee")}, {"MiddleName", t("M")}};
  auto out = run(store, 999, crm, 1, nullptr);
  CHECK(out.to_crm == FieldMap{{"FirstName", t("Ann")}});
  CHECK(out.to_store == FieldMap{{"JobTitle", t("C")}, {"MiddleName", t("M")}});
  REQUIRE(out.conflicts.size() == 1);
  CHECK(out.conflicts[0].field == "JobTitle");
}

TEST_CASE("M4: the daemon's one-way fields follow CRM and never go back") {
  FieldMap orig{{"CompanyName", t("Old")}};
  FieldMap store{{"CompanyName", t("User edit")}};
  FieldMap crm{{"CompanyName", t("Old")}};
  auto out = run(store, 10, crm, 1, &orig);
  CHECK(out.to_crm.empty());
  CHECK(out.to_store.empty());
  FieldMap crm2{{"CompanyName", t("New")}};
  out = run(store, 10, crm2, 1, &orig);
  CHECK(out.to_store == FieldMap{{"CompanyName", t("New")}});
}
