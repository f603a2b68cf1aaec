// SPEC §5 row by row (core/rules deletion_rules.hpp): facts in, action and SPEC id out.
#include <catch2/catch.hpp>

#include "crmsync/core/deletion_rules.hpp"

using namespace crmsync;
using namespace crmsync::rules;

namespace {
CrmFacts open_owned_future() {
  CrmFacts f;
  f.known = f.open = f.user_owns = f.starts_in_future = true;
  return f;
}
StoreAction act(CrmEntity e, StoreTrigger t, const CrmFacts& f = {}) {
  return on_store_removal(e, t, f).action;
}
}  // namespace

TEST_CASE("D1: a contact deleted in the store is kept deleted locally, never deleted in CRM") {
  CHECK(act(CrmEntity::kContact, StoreTrigger::kDelete) == StoreAction::kKeepDeletedLocally);
  CHECK(on_store_removal(CrmEntity::kContact, StoreTrigger::kDelete, {}).spec == "D1");
  CHECK_FALSE(needs_crm_record(CrmEntity::kContact));
}

TEST_CASE("D2: a contact untracked is deleted in CRM only when the user asked") {
  CHECK(act(CrmEntity::kContact, StoreTrigger::kUntrack) == StoreAction::kUnlink);
  CHECK(act(CrmEntity::kContact, StoreTrigger::kUntrackDeleteInCrm) == StoreAction::kDeleteInCrm);
}

TEST_CASE("D3: an appointment goes from CRM only when open, future, and the user's") {
  CHECK(needs_crm_record(CrmEntity::kAppointment));
  for (auto t :
       {StoreTrigger::kDelete, StoreTrigger::kUntrack, StoreTrigger::kUntrackDeleteInCrm}) {
    CHECK(act(CrmEntity::kAppointment, t, open_owned_future()) == StoreAction::kDeleteInCrm);
    CrmFacts organizer = open_owned_future();
    organizer.user_owns = false;
    organizer.user_organizes = true;
    CHECK(act(CrmEntity::kAppointment, t, organizer) == StoreAction::kDeleteInCrm);
    CrmFacts other = organizer;
    other.user_organizes = false;
    CHECK(act(CrmEntity::kAppointment, t, other) == StoreAction::kUnlink);
    CrmFacts past = open_owned_future();
    past.starts_in_future = false;
    CHECK(act(CrmEntity::kAppointment, t, past) == StoreAction::kUnlink);
    CrmFacts done = open_owned_future();
    done.open = false;
    CHECK(act(CrmEntity::kAppointment, t, done) == StoreAction::kUnlink);
    CHECK(act(CrmEntity::kAppointment, t, CrmFacts{}) == StoreAction::kUnlink);  // not read
  }
}

TEST_CASE("D4: a task deleted in the store goes from CRM when open and owned") {
  for (auto e : {CrmEntity::kTask, CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax}) {
    CHECK(needs_crm_record(e));
    CHECK(act(e, StoreTrigger::kDelete, open_owned_future()) == StoreAction::kDeleteInCrm);
    CrmFacts party = open_owned_future();
    party.user_owns = false;  // only a party: never
    CHECK(act(e, StoreTrigger::kDelete, party) == StoreAction::kUnlink);
    CrmFacts done = open_owned_future();
    done.open = false;
    CHECK(act(e, StoreTrigger::kDelete, done) == StoreAction::kUnlink);
  }
}

TEST_CASE("D5: an e-mail is never deleted in CRM by a delete; untracked only when asked") {
  CHECK_FALSE(needs_crm_record(CrmEntity::kEmail));
  CHECK(act(CrmEntity::kEmail, StoreTrigger::kDelete) == StoreAction::kUnlink);
  CHECK(act(CrmEntity::kEmail, StoreTrigger::kUntrack) == StoreAction::kUnlink);
  CHECK(act(CrmEntity::kEmail, StoreTrigger::kUntrackDeleteInCrm) == StoreAction::kDeleteInCrm);
}

TEST_CASE("D11: a task untracked goes from CRM only when asked and D4's conditions hold") {
  for (auto e : {CrmEntity::kTask, CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax}) {
    CHECK(act(e, StoreTrigger::kUntrack, open_owned_future()) == StoreAction::kUnlink);
    CHECK(act(e, StoreTrigger::kUntrackDeleteInCrm, open_owned_future()) ==
          StoreAction::kDeleteInCrm);
    CrmFacts party = open_owned_future();
    party.user_owns = false;
    CHECK(act(e, StoreTrigger::kUntrackDeleteInCrm, party) == StoreAction::kUnlink);
    CHECK(on_store_removal(e, StoreTrigger::kUntrack, {}).spec == "D11");
  }
}

TEST_CASE("D6: a contact deleted in CRM leaves the store unless the user owns it") {
  StoreFacts f;
  f.user_owns = true;
  CHECK(on_crm_removal(CrmEntity::kContact, f).action == CrmAction::kUnlink);
  f.left_filter = true;  // R2: left the filter counts as deleted, owner or not
  CHECK(on_crm_removal(CrmEntity::kContact, f).action == CrmAction::kDeleteInStore);
  CHECK(on_crm_removal(CrmEntity::kContact, StoreFacts{}).action == CrmAction::kDeleteInStore);
  CHECK(on_crm_removal(CrmEntity::kContact, f).spec == "D6");
}

TEST_CASE("D7: an appointment deleted in CRM leaves the store if it is in the future") {
  StoreFacts f;
  f.starts_in_future = true;
  CHECK(on_crm_removal(CrmEntity::kAppointment, f).action == CrmAction::kDeleteInStore);
  f.starts_in_future = false;
  CHECK(on_crm_removal(CrmEntity::kAppointment, f).action == CrmAction::kUnlink);
}

TEST_CASE("D8: a task deleted in CRM leaves the store if it was open") {
  for (auto e : {CrmEntity::kTask, CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax}) {
    StoreFacts f;
    f.was_open = true;
    CHECK(on_crm_removal(e, f).action == CrmAction::kDeleteInStore);
    f.was_open = false;
    CHECK(on_crm_removal(e, f).action == CrmAction::kUnlink);
  }
}

TEST_CASE("D9: an e-mail deleted in CRM is never deleted in the store") {
  StoreFacts f;
  f.left_filter = f.starts_in_future = f.was_open = true;
  CHECK(on_crm_removal(CrmEntity::kEmail, f).action == CrmAction::kUnlink);
}

TEST_CASE("D10: deletions over the share of synced items are held until confirmed") {
  MassDeleteFacts f;
  f.linked = 100;
  f.pending_in_store = 60;  // 60 of 100 > 50%, >= 20
  auto v = mass_delete_guard(f);
  CHECK(v.hold_store);
  CHECK_FALSE(v.hold_crm);
  CHECK(v.base == 100);
  f.confirmed = true;
  CHECK_FALSE(mass_delete_guard(f).hold_store);
}

TEST_CASE("D10: the minimum keeps small mailboxes free") {
  MassDeleteFacts f;
  f.linked = 10;
  f.pending_in_crm = 10;  // 100% but under 20
  CHECK_FALSE(mass_delete_guard(f).hold_crm);
}

TEST_CASE("D10: deletions made since the last confirmation count, and widen the base") {
  MassDeleteFacts f;
  f.linked = 40;
  f.made_in_crm = 40;  // slices already applied: the base is what was synced at confirmation
  f.pending_in_crm = 5;
  auto v = mass_delete_guard(f);
  CHECK(v.base == 80);
  CHECK(v.hold_crm);  // 45 of 80 > 50%
  f.made_in_crm = 30;
  f.linked = 50;
  CHECK_FALSE(mass_delete_guard(f).hold_crm);  // 35 of 80
  f.pending_in_crm = 0;                        // nothing pending: nothing to hold
  f.made_in_crm = 70;
  CHECK_FALSE(mass_delete_guard(f).hold_crm);
}
