// The emulator's own data model: attribute values, records, entity metadata and
// the organization-service fault. Shares nothing with crmsync's model on purpose.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace crm_emulator {

// HRESULTs as the real server reports them (signed 32-bit).
namespace err {
inline constexpr int kObjectDoesNotExist = -2147220969;  // 0x80040217
inline constexpr int kDuplicateRecord = -2147220937;    // 0x80040237 "Cannot insert duplicate key."
inline constexpr int kUnexpected = -2147220970;         // 0x80040216
inline constexpr int kInvalidArgument = -2147220989;    // 0x80040203
inline constexpr int kAttributeNotFound = -2147217149;  // 0x80041103
inline constexpr int kEntityNotFound = -2147217150;     // 0x80041102
inline constexpr int kStringLength = -2147204303;       // 0x80044331
inline constexpr int kInvalidStateStatus = -2147220989;   // 0x80040203 invalid argument
inline constexpr int kExpiredVersionStamp = -2147204270;  // 0x80044352
inline constexpr int kThrottleRequests = -2147015902;     // 0x80072322
inline constexpr int kSqlTimeout = -2147204784;           // 0x80044150
inline constexpr int kBatchSizeExceeded = -2147220715;    // 0x80040315 (memory; not re-checked)
inline constexpr int kRequestNotSupported = -2147220970;  // unknown message: generic
inline constexpr int kDeserialization = -2147220970;      // malformed envelope
// Optimistic concurrency (UpdateRequest.ConcurrencyBehavior = IfRowVersionMatches); codes as
// Microsoft's "Optimistic concurrency" documentation handles them.
inline constexpr int kConcurrencyVersionMismatch = -2147088254;     // 0x80060882
inline constexpr int kConcurrencyVersionNotProvided = -2147088243;  // 0x8006088D
}  // namespace err

// A fault answered as s:Fault + OrganizationServiceFault.
struct Fault : std::runtime_error {
  int code;
  int http_status = 500;
  int retry_after_s = 0;  // > 0: 429 with Retry-After
  Fault(int c, std::string message) : std::runtime_error(std::move(message)), code(c) {}
};

struct EntityRef {
  std::string logical;
  std::string id;  // lower-case guid
  std::string name;
};

struct Party {
  std::optional<EntityRef> partyid;
  std::string addressused;
  int participationtypemask = 0;
};

// One attribute value, typed as on the wire.
struct Value {
  enum class Type {
    Null,
    String,
    Int,
    Long,
    Bool,
    DateTime,
    Guid,
    Ref,
    OptionSet,
    Money,
    Decimal,
    Double,
    Parties
  };
  Type type = Type::Null;
  std::string s;       // String, DateTime (canonical ISO Z), Guid, Money/Decimal/Double text
  std::int64_t i = 0;  // Int, Long, OptionSet, Bool (0/1)
  EntityRef ref;
  std::vector<Party> parties;

  static Value str(std::string v) { return Value{Type::String, std::move(v)}; }
  static Value integer(std::int64_t v) { return Value{Type::Int, {}, v}; }
  static Value boolean(bool v) { return Value{Type::Bool, {}, v ? 1 : 0}; }
  static Value datetime(std::string iso) { return Value{Type::DateTime, std::move(iso)}; }
  static Value guid(std::string g) { return Value{Type::Guid, std::move(g)}; }
  static Value option(std::int64_t v) { return Value{Type::OptionSet, {}, v}; }
  static Value reference(std::string logical, std::string id, std::string name = {}) {
    Value v{Type::Ref};
    v.ref = EntityRef{std::move(logical), std::move(id), std::move(name)};
    return v;
  }
  bool is_null() const { return type == Type::Null; }
};

using Attributes = std::map<std::string, Value>;

struct Record {
  std::string entity;
  std::string id;
  Attributes attrs;
  std::int64_t version = 0;
};

// ---- metadata ----
enum class AttrType {
  String,
  Memo,
  Int,
  Bool,
  DateTime,
  Guid,
  Lookup,
  OptionSet,
  Money,
  Decimal,
  Double,
  PartyList
};

struct AttrMeta {
  AttrType type;
  int max_length = 0;      // strings only
  bool read_only = false;  // computed by the server (fullname, createdon …); writes are ignored
};

struct EntityMeta {
  std::string name;
  std::string primary_id;    // "contactid", "activityid" …
  std::string primary_name;  // "fullname", "subject", "name"
  std::map<std::string, AttrMeta> attrs;
  // state -> allowed statuses; the first is the default status for that state.
  std::map<int, std::vector<int>> states;
  bool has_owner = false;
};

const EntityMeta* find_entity(std::string_view name);
const std::vector<std::string>& entity_names();
// The participationtypemask of a party-list attribute ("to" -> 2).
int participation_mask(std::string_view attr);

// ---- small helpers ----
std::string new_guid();
// Lower-case canonical guid, braces stripped; empty when not a guid.
std::string normalize_guid(std::string_view text);
inline constexpr const char* kNullGuid = "00000000-0000-0000-0000-000000000000";
// ISO 8601 (fractions, Z or ±hh:mm, no zone = UTC) -> "YYYY-MM-DDTHH:MM:SSZ"; empty if invalid.
std::string normalize_datetime(std::string_view text);
std::string now_iso();
std::string now_iso_fraction();  // with 7 fraction digits, as fault timestamps
std::int64_t now_unix();

// Fixed ids of the organization.
inline constexpr const char* kPrivSyncToOutlookId = "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f901234";

}  // namespace crm_emulator
