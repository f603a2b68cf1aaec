// Item kinds and the Item value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "crmsync/model/value.hpp"

namespace crmsync {

// What the store holds. Phone calls, letters and faxes are shown in the store as tasks.
enum class ItemKind { kContact, kTask, kAppointment, kEmail };

// What the CRM holds (and id_mapping.object_type records).
enum class CrmEntity { kContact, kTask, kAppointment, kEmail, kPhoneCall, kLetter, kFax };

std::string_view to_string(ItemKind k);
std::string_view to_string(CrmEntity e);  // the CRM logical name: "phonecall"
Result<ItemKind> parse_item_kind(std::string_view s);
Result<CrmEntity> parse_crm_entity(std::string_view s);
ItemKind store_kind_of(CrmEntity e);
// The entity a new store item becomes in CRM (a task becomes a task, never a phone call).
CrmEntity crm_entity_of(ItemKind k);
inline constexpr CrmEntity kAllCrmEntities[] = {
    CrmEntity::kContact,   CrmEntity::kTask,   CrmEntity::kAppointment, CrmEntity::kEmail,
    CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax};
inline constexpr ItemKind kAllItemKinds[] = {ItemKind::kContact, ItemKind::kTask,
                                             ItemKind::kAppointment, ItemKind::kEmail};

// One item as a value: kind, field values by the store's field names, last change.
struct Item {
  ItemKind kind = ItemKind::kContact;
  FieldMap fields;
  UtcTime modified;

  const Value* find(std::string_view field) const {
    auto it = fields.find(field);
    return it == fields.end() ? nullptr : &it->second;
  }
  std::string text(std::string_view field) const;  // "" when absent or not text
};

}  // namespace crmsync
