// SPEC §7's store fields as MAPI properties: one table per item kind of {store field,
// property (fixed tag or named property), codec}, and the pure conversions between crmsync's
// values and property values. No MAPI session here: the live adapter turns PropValues into
// SPropValues and back, the unit tests run these conversions on their own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "crmsync/core/category_store.hpp"
#include "crmsync/core/store_adapter.hpp"
#include "encoding.hpp"
#include "props.hpp"

namespace crmsync::mapi {

struct FileTime {
  std::int64_t ticks = 0;
  auto operator<=>(const FileTime&) const = default;
};

// A property value as MAPI holds it; monostate = absent (read) or delete (write).
using PropValue = std::variant<std::monostate, std::int32_t, bool, double, FileTime, std::u16string,
                               std::vector<std::u16string>, Binary>;
PropType type_of(const PropValue& v);  // kError for monostate

// A property: a fixed tag, or a named property resolved per store.
struct PropRef {
  std::variant<std::uint32_t, Named> id;
  PropType type() const;
  std::string label() const;  // "0x3A06001F" or "PidLidTaskStatus"
  auto operator<=>(const PropRef&) const = default;
};

struct PropWrite {
  PropRef ref;
  PropValue value;
};

// One row of a message's recipient table.
struct Recipient {
  std::int32_t type = kRecipientTo;  // kRecipientTo or kRecipientCc
  std::u16string name;
  std::u16string address;  // SMTP
  bool operator==(const Recipient&) const = default;
};

enum class Codec {
  kText,          // text <-> PT_UNICODE
  kTextList,      // text <-> PT_MV_UNICODE: written as one entry, entries joined by ", " on read
  kEmailAddress,  // text <-> PidLidEmailNEmailAddress, with its address type "SMTP"
  kDate,          // Date <-> PT_SYSTIME at midnight UTC, read as the nearest midnight
  kTime,          // UtcTime <-> PT_SYSTIME
  kBool,          // bool <-> PT_BOOLEAN
  kInteger,       // integer <-> PT_LONG (32 bits)
  kImportance,    // Low/Normal/High <-> PR_IMPORTANCE 0/1/2
  kTaskStatus,    // task Status <-> PidLidTaskStatus (+ PidLidTaskComplete, PidLidPercentComplete)
  kBusyStatus,    // ShowTimeAs <-> PidLidBusyStatus
  kReference,     // EntityRef <-> "entity:GUID" in PT_UNICODE (Regarding)
  kRecipients,    // PartyList <-> the recipient rows of one type (To, Cc)
  kSender,        // PartyList of one <-> PR_SENDER_* and PR_SENT_REPRESENTING_* (From)
  kOrganizer,     // PartyList <- PR_SENT_REPRESENTING_* (read-only; writes are type-checked)
};

struct FieldSpec {
  std::string_view field;
  PropRef prop;  // the main property (kRecipients: PR_RECIPIENT_TYPE, unused)
  Codec codec;
  std::int32_t recipient_type = 0;    // kRecipients
  std::optional<Named> address_type;  // kEmailAddress
};

// The fields of a kind the adapter stores: every SPEC §7 field and the store-only fields the
// model knows, except the ones `unsupported_reason` names.
std::span<const FieldSpec> field_specs(ItemKind kind);
const FieldSpec* find_field(ItemKind kind, std::string_view field);
// Why a known store field has no MAPI property here ("" when it has one).
std::string_view unsupported_reason(ItemKind kind, std::string_view field);

// The message class of a new item, and the kind of a stored message (IPM.Contact... etc.;
// kNotFound for classes the adapter does not sync, such as the hidden items).
std::u16string_view message_class(ItemKind kind);
Result<ItemKind> kind_of_message_class(std::u16string_view message_class);

struct Encoded {
  std::vector<PropWrite> props;
  // Recipient types whose rows are replaced by these (the others stay).
  std::map<std::int32_t, std::vector<Recipient>> recipients;
};

// Fields -> property writes. kInvalid (naming the field) for unknown fields, values of the
// wrong type, text MAPI cannot carry (invalid UTF-8, NUL) and out-of-range numbers or times.
Result<Encoded> encode_fields(ItemKind kind, const FieldMap& fields);
// The CRM link as crmsync's named properties (always all of them: absent parts are deleted).
Result<std::vector<PropWrite>> encode_link(const CrmLink& link);

using PropLookup = std::function<const PropValue*(const PropRef&)>;
// Properties (and the recipient rows) -> the mapped fields; absent properties are absent
// fields. kInvalid (naming the field) for values of the wrong type or out of range.
Result<FieldMap> decode_fields(ItemKind kind, const PropLookup& get,
                               const std::vector<Recipient>& recipients);
Result<CrmLink> decode_link(const PropLookup& get);

// SPEC U1: an item's categories (PidNameKeywords, in the user's order), its tracked mark and
// crmsync's TrackCategory; and the writes of a CategoryWrite (an empty list deletes Keywords).
// kInvalid for values of the wrong type or text MAPI cannot carry.
Result<CategoryMark> decode_mark(const PropLookup& get);
Result<std::vector<PropWrite>> encode_mark(const CategoryWrite& w);

// Every property decode_fields, decode_link and decode_mark read for a kind (the columns to
// ask for).
std::vector<PropRef> props_to_read(ItemKind kind);
std::vector<PropRef> link_props();

}  // namespace crmsync::mapi
