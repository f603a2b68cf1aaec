// Field values: a small closed variant shared by the store and CRM sides.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "crmsync/model/ids.hpp"
#include "crmsync/model/result.hpp"

namespace crmsync {

// An instant in UTC, millisecond precision (CRM keeps seconds, MAPI 100 ns; ms covers both).
struct UtcTime {
  std::int64_t ms = 0;  // since 1970-01-01T00:00:00Z
  auto operator<=>(const UtcTime&) const = default;
  static UtcTime from_seconds(std::int64_t s) { return UtcTime{s * 1000}; }
  // ISO 8601: "2025-03-01T08:00:00Z", fractions and "+hh:mm" offsets accepted; kInvalid otherwise.
  static Result<UtcTime> parse(std::string_view text);
  // Canonical form: "2025-03-01T08:00:00Z", or with ".123" when there are milliseconds.
  std::string iso() const;
};

// A calendar date that no time zone may shift (Birthday, Anniversary, task dates).
struct Date {
  int year = 1970;
  int month = 1;
  int day = 1;
  auto operator<=>(const Date&) const = default;
  static Result<Date> parse(std::string_view text);  // "YYYY-MM-DD", a real date
  std::string iso() const;
  std::int64_t days_since_epoch() const;
  static Date from_days_since_epoch(std::int64_t days);
};

// A reference to a CRM record: regarding, parent customer, owner, party.
struct EntityRef {
  std::string entity;  // logical name: "contact", "account", "systemuser", ...
  CrmId id;
  std::string name;  // display name when known; not compared
  bool operator==(const EntityRef& o) const { return entity == o.entity && id == o.id; }
  // Ordering exists so that containers of Values can be ordered; it ignores the name too.
  std::weak_ordering operator<=>(const EntityRef& o) const {
    if (auto c = entity <=> o.entity; c != 0) return c;
    return id <=> o.id;
  }
  // "contact:6f1c...": the store's text form of Regarding.
  static Result<EntityRef> parse(std::string_view text);
  std::string str() const { return entity + ":" + id.str(); }
};

// One participant of an activity: an address, a name, and the record it resolved to.
struct Party {
  std::string address;
  std::string name;
  std::optional<EntityRef> ref;
  bool operator==(const Party& o) const;
  std::weak_ordering operator<=>(const Party& o) const;
};
using PartyList = std::vector<Party>;

// monostate = empty/null. Text is held as entered (comparison trims, see equivalent()).
using Value = std::variant<std::monostate, std::string, std::int64_t, bool, UtcTime, Date,
                           EntityRef, PartyList>;

bool is_null(const Value& v);
// Equality as the merge sees it: text trimmed, empty text == null.
bool equivalent(const Value& a, const Value& b);
// A short human form for logs, conflicts and the CLI.
std::string display(const Value& v);
std::string_view type_name(const Value& v);

using FieldMap = std::map<std::string, Value, std::less<>>;

}  // namespace crmsync
