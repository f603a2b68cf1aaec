// The field table of the EWS item codec (internal to store_ews): per item kind, each SPEC §7
// store field's place on the wire (element, dictionary entry, business-address part or
// extended property), its value type, and the schema order items are written in.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire.hpp"

namespace crmsync::ews::detail {

enum class Slot {
  kElement,  // a first-class element: item-level (ItemType) or of the subtype
  kIndexed,  // an entry of a dictionary (EmailAddresses, PhoneNumbers, ImAddresses)
  kAddress,  // a part of the business PhysicalAddresses entry
  kExtended  // an extended property
};
enum class VT {
  kText,
  kTextList,  // an ArrayOfStrings (Children): one entry written, entries joined on read
  kDate,      // a dateTime with date meaning: written at 00:00Z, read to the nearest midnight
  kTime,
  kBool,
  kInt,
  kImportance,
  kTaskStatus,
  kShowTimeAs,
  kParties,    // attendees / recipients: a list of Mailbox (Attendee-wrapped for calendar)
  kParty,      // From, Organizer: one Mailbox
  kReference,  // Regarding: "entity:guid" text
  kDuration,   // computed from Start and End (read only)
};

struct Spec {
  std::string_view store;
  Slot slot;
  std::string_view element;  // element, dictionary element, or address part
  std::string_view uri;      // FieldURI (indexed: the dictionary's FieldURI)
  std::string_view key;      // FieldIndex / Entry Key (addresses: "Business")
  VT type = VT::kText;
  bool read_only = false;  // ignored on write (Organizer is always the owner, Duration derived)
  Ext ext{};
};

const std::vector<Spec>& specs(ItemKind kind);
const Spec* find_spec(ItemKind kind, std::string_view store);
std::string_view element_of(ItemKind kind);  // Contact, Task, CalendarItem, Message
std::optional<ItemKind> kind_of_element(std::string_view el);
// The position of an element among an item's children as types.xsd orders them (ItemType's,
// then the subtype's); 1000 for an unknown one.
int order_of(ItemKind kind, std::string_view element);
int address_part_order(std::string_view part);

// Values <-> wire text (scalars, not parties); kInvalid naming the field.
Error invalid_field(std::string_view field, std::string_view why);
Result<std::string> to_wire(const Spec& s, const Value& v);
Result<Value> from_wire(const Spec& s, const std::string& text);

// Every extended property URI the item codec reads (GetItem's AdditionalProperties).
std::string all_ext_uris();
// What category_mark_of reads, as AdditionalProperties' children.
std::string category_mark_uris();

// SPEC U1 on the wire (item_categories.cpp): the Categories element and the TrackCategory
// property of a CreateItem, as (schema order, XML) pairs; and UpdateItem's changes of them.
Result<std::vector<std::pair<int, std::string>>> category_pieces(ItemKind kind,
                                                                 const CategoryWrite& w);
Result<std::string> category_updates(ItemKind kind, const CategoryWrite& w);
// A SetItemField of one extended property, and its DeleteItemField.
std::string set_ext_field(ItemKind kind, const Ext& e, std::string_view value);
std::string delete_ext_field(const Ext& e);

}  // namespace crmsync::ews::detail
