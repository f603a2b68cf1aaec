// The column-level three-way merge (SPEC §3), as a pure function.
#pragma once

#include <string>
#include <vector>

#include "crmsync/model/mapping.hpp"

namespace crmsync {

struct FieldConflict {
  std::string field;
  Value store_value;
  Value crm_value;
  bool crm_won = true;
};

struct MergeOutcome {
  FieldMap to_store;  // fields to write to the store item (null clears)
  FieldMap to_crm;    // store fields whose values go to CRM (converted by store_to_crm)
  FieldMap merged;    // the new original state: both sides hold these values after applying
  std::vector<FieldConflict> conflicts;
};

// The store fields of `entity` the merge looks at: two-way fields, plus the one-way
// CRM -> store fields when `with_crm_only`. E-mail: only Regarding after tracking (T4).
FieldMap syncable_fields(CrmEntity entity, const FieldMap& store_fields, bool with_crm_only);

struct MergeInput {
  CrmEntity entity = CrmEntity::kContact;
  const FieldMap* store = nullptr;  // the store item's fields now
  UtcTime store_modified;
  const FieldMap* crm = nullptr;  // the CRM record converted to store fields (crm_to_store)
  UtcTime crm_modified;
  const FieldMap* original = nullptr;  // the last synced state; null = empty base (SPEC E2)
};

// M1: a field changed on one side goes to the other. M2: changed on both sides, the more
// recent side wins, CRM on a tie; with an empty base (E2), differing fields take CRM's value.
// M3: every field changed on both sides to different values is a conflict. M4: only the
// mapping's fields are looked at.
MergeOutcome merge_fields(const MergeInput& in);

// G1, G5: CRM -> store is off for the entity, store -> CRM still works. The store's changed
// fields go to CRM and nothing comes back (to_store stays empty): a field CRM changed too
// keeps the store's value, and CRM's is kept in a conflict record (M3, crm_won = false).
// With an empty base, CRM's values are the base.
MergeOutcome merge_store_changes_only(const MergeInput& in);

}  // namespace crmsync
