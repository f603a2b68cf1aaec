// SPEC §5, the deletion rules, as one table: a row a rule (SPEC id, entity, trigger,
// condition -> action, else action). The engine gathers the facts (the CRM record's state,
// owner, organizer and start; the store item's start), asks, and acts. Pure.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "crmsync/model/item.hpp"

namespace crmsync::rules {

// Which entities a row is about.
enum class Entities {
  kContact,
  kAppointment,
  kTaskLike /* task, phone call, letter, fax */,
  kEmail
};
Entities entities_of(CrmEntity e);

// ---- Store -> CRM (D1-D5, D11): the user deleted or untracked an item in the store.

enum class StoreTrigger { kDelete, kUntrack, kUntrackDeleteInCrm };

// The CRM record as the engine read it (only for appointments and task-likes: see
// needs_crm_record). `known` = false when it was not read or is gone: no condition holds.
struct CrmFacts {
  bool known = false;
  bool open = false;              // statecode Open (or Scheduled)
  bool user_owns = false;         // ownerid is the user
  bool user_organizes = false;    // the user is the organizer (appointments)
  bool starts_in_future = false;  // scheduledstart > now
};

enum class StoreAction {
  kDeleteInCrm,         // delete the record, then unlink
  kUnlink,              // forget the pair, the record stays
  kKeepDeletedLocally,  // D1: keep the pair marked deleted_locally: never brought back
};

struct StoreRule {
  std::string_view spec;
  Entities entities;
  StoreTrigger trigger;
  bool (*condition)(const CrmFacts&);
  StoreAction then;
  StoreAction otherwise;
};
std::span<const StoreRule> store_removal_rules();

struct StoreDecision {
  StoreAction action = StoreAction::kUnlink;
  std::string_view spec;  // the row that decided
};
StoreDecision on_store_removal(CrmEntity entity, StoreTrigger trigger, const CrmFacts& facts);
// Whether a row for this entity reads the CRM record (appointments, task-likes).
bool needs_crm_record(CrmEntity entity);

// ---- CRM -> store (D6-D9): a record deleted in CRM, or one that left the filter (R2).

struct StoreFacts {
  bool left_filter = false;       // R2: counts as deleted
  bool user_owns = false;         // the mapping's owner is the user (D6)
  bool starts_in_future = false;  // the store item's Start > now (D7)
  bool was_open = true;           // the record's last known statecode was Open (D8)
};

enum class CrmAction { kDeleteInStore, kUnlink };

struct CrmRule {
  std::string_view spec;
  Entities entities;
  bool (*condition)(const StoreFacts&);
  CrmAction then;
  CrmAction otherwise;
};
std::span<const CrmRule> crm_removal_rules();

struct CrmDecision {
  CrmAction action = CrmAction::kUnlink;
  std::string_view spec;
};
CrmDecision on_crm_removal(CrmEntity entity, const StoreFacts& facts);

// ---- D10: the mass-delete guard.

// The deletions pending now plus those made since the user last confirmed, on each side,
// against the items synced at the last confirmation (linked now + deleted since).
struct MassDeleteFacts {
  std::int64_t pending_in_store = 0, pending_in_crm = 0;
  std::int64_t made_in_store = 0, made_in_crm = 0;  // since the last confirmation
  std::int64_t linked = 0;
  double ratio = 0.5;
  std::int64_t min = 20;
  bool confirmed = false;  // --allow-mass-delete
};
struct MassDeleteVerdict {
  bool hold_store = false, hold_crm = false;
  std::int64_t base = 0;  // the synced items the share is of
};
MassDeleteVerdict mass_delete_guard(const MassDeleteFacts& f);

}  // namespace crmsync::rules
