#include "crmsync/core/deletion_rules.hpp"

#include <array>

namespace crmsync::rules {
namespace {

bool always(const CrmFacts&) {
  return true;
}
bool d3(const CrmFacts& f) {  // open, future, owner or organizer
  return f.known && f.open && f.starts_in_future && (f.user_owns || f.user_organizes);
}
bool d4(const CrmFacts& f) {  // open and owned
  return f.known && f.open && f.user_owns;
}

using E = Entities;
using T = StoreTrigger;
using S = StoreAction;
constexpr std::array<StoreRule, 10> kStoreRules{{
    // spec  entities        trigger                  condition  then               otherwise
    {"D1", E::kContact, T::kDelete, always, S::kKeepDeletedLocally, S::kKeepDeletedLocally},
    {"D2", E::kContact, T::kUntrack, always, S::kUnlink, S::kUnlink},
    {"D2", E::kContact, T::kUntrackDeleteInCrm, always, S::kDeleteInCrm, S::kDeleteInCrm},
    {"D3", E::kAppointment, T::kDelete, d3, S::kDeleteInCrm, S::kUnlink},
    {"D3", E::kAppointment, T::kUntrack, d3, S::kDeleteInCrm, S::kUnlink},
    {"D3", E::kAppointment, T::kUntrackDeleteInCrm, d3, S::kDeleteInCrm, S::kUnlink},
    {"D4", E::kTaskLike, T::kDelete, d4, S::kDeleteInCrm, S::kUnlink},
    {"D5", E::kEmail, T::kDelete, always, S::kUnlink, S::kUnlink},
    {"D5", E::kEmail, T::kUntrackDeleteInCrm, always, S::kDeleteInCrm, S::kDeleteInCrm},
    // D11: asked, and D4's conditions. (An untrack that did not ask: the fallback, unlink.)
    {"D11", E::kTaskLike, T::kUntrackDeleteInCrm, d4, S::kDeleteInCrm, S::kUnlink},
}};

bool d6(const StoreFacts& f) {  // the owner keeps the contact
  return f.left_filter || !f.user_owns;
}
bool d7(const StoreFacts& f) {  // future appointments go
  return f.starts_in_future;
}
bool d8(const StoreFacts& f) {  // open tasks, phone calls, letters, faxes go
  return f.was_open;
}
bool never(const StoreFacts&) {
  return false;
}
using C = CrmAction;
constexpr std::array<CrmRule, 4> kCrmRules{{
    {"D6", E::kContact, d6, C::kDeleteInStore, C::kUnlink},
    {"D7", E::kAppointment, d7, C::kDeleteInStore, C::kUnlink},
    {"D8", E::kTaskLike, d8, C::kDeleteInStore, C::kUnlink},
    {"D9", E::kEmail, never, C::kDeleteInStore, C::kUnlink},
}};

}  // namespace

Entities entities_of(CrmEntity e) {
  switch (e) {
    case CrmEntity::kContact:
      return Entities::kContact;
    case CrmEntity::kAppointment:
      return Entities::kAppointment;
    case CrmEntity::kEmail:
      return Entities::kEmail;
    default:
      return Entities::kTaskLike;
  }
}

std::span<const StoreRule> store_removal_rules() {
  return kStoreRules;
}
std::span<const CrmRule> crm_removal_rules() {
  return kCrmRules;
}

bool needs_crm_record(CrmEntity entity) {
  const Entities e = entities_of(entity);
  return e == Entities::kAppointment || e == Entities::kTaskLike;
}

StoreDecision on_store_removal(CrmEntity entity, StoreTrigger trigger, const CrmFacts& facts) {
  const Entities e = entities_of(entity);
  for (const StoreRule& r : kStoreRules)
    if (r.entities == e && r.trigger == trigger)
      return {r.condition(facts) ? r.then : r.otherwise, r.spec};
  // No row: the item is unlinked and the record stays (an e-mail or a task untracked
  // without asking).
  return {StoreAction::kUnlink, e == Entities::kEmail ? "D5" : "D11"};
}

CrmDecision on_crm_removal(CrmEntity entity, const StoreFacts& facts) {
  const Entities e = entities_of(entity);
  for (const CrmRule& r : kCrmRules)
    if (r.entities == e) return {r.condition(facts) ? r.then : r.otherwise, r.spec};
  return {CrmAction::kUnlink, ""};
}

MassDeleteVerdict mass_delete_guard(const MassDeleteFacts& f) {
  MassDeleteVerdict v;
  v.base = f.linked + f.made_in_store + f.made_in_crm;
  auto too_many = [&](std::int64_t n) {
    return n >= f.min && static_cast<double>(n) > f.ratio * static_cast<double>(v.base);
  };
  v.hold_store =
      f.pending_in_store > 0 && too_many(f.pending_in_store + f.made_in_store) && !f.confirmed;
  v.hold_crm = f.pending_in_crm > 0 && too_many(f.pending_in_crm + f.made_in_crm) && !f.confirmed;
  return v;
}

}  // namespace crmsync::rules
