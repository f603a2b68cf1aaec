#include "crmsync/model/item.hpp"

#include <array>
#include <utility>

namespace crmsync {
namespace {

constexpr std::array<std::pair<ItemKind, std::string_view>, 4> kKinds{{
    {ItemKind::kContact, "contact"},
    {ItemKind::kTask, "task"},
    {ItemKind::kAppointment, "appointment"},
    {ItemKind::kEmail, "email"},
}};
constexpr std::array<std::pair<CrmEntity, std::string_view>, 7> kEntities{{
    {CrmEntity::kContact, "contact"},
    {CrmEntity::kTask, "task"},
    {CrmEntity::kAppointment, "appointment"},
    {CrmEntity::kEmail, "email"},
    {CrmEntity::kPhoneCall, "phonecall"},
    {CrmEntity::kLetter, "letter"},
    {CrmEntity::kFax, "fax"},
}};

}  // namespace

std::string_view to_string(ItemKind k) {
  for (auto& [v, n] : kKinds)
    if (v == k) return n;
  return "?";
}

std::string_view to_string(CrmEntity e) {
  for (auto& [v, n] : kEntities)
    if (v == e) return n;
  return "?";
}

Result<ItemKind> parse_item_kind(std::string_view s) {
  for (auto& [v, n] : kKinds)
    if (n == s) return v;
  return Error::Invalid("unknown kind '" + std::string(s) +
                        "' (one of contact, task, appointment, email)");
}

Result<CrmEntity> parse_crm_entity(std::string_view s) {
  for (auto& [v, n] : kEntities)
    if (n == s) return v;
  return Error::Invalid("unknown CRM entity '" + std::string(s) + "'");
}

ItemKind store_kind_of(CrmEntity e) {
  switch (e) {
    case CrmEntity::kContact:
      return ItemKind::kContact;
    case CrmEntity::kAppointment:
      return ItemKind::kAppointment;
    case CrmEntity::kEmail:
      return ItemKind::kEmail;
    case CrmEntity::kTask:
    case CrmEntity::kPhoneCall:
    case CrmEntity::kLetter:
    case CrmEntity::kFax:
      return ItemKind::kTask;
  }
  return ItemKind::kTask;
}

CrmEntity crm_entity_of(ItemKind k) {
  switch (k) {
    case ItemKind::kContact:
      return CrmEntity::kContact;
    case ItemKind::kTask:
      return CrmEntity::kTask;
    case ItemKind::kAppointment:
      return CrmEntity::kAppointment;
    case ItemKind::kEmail:
      return CrmEntity::kEmail;
  }
  return CrmEntity::kTask;
}

std::string Item::text(std::string_view field) const {
  const Value* v = find(field);
  if (v == nullptr) return {};
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  return {};
}

}  // namespace crmsync
