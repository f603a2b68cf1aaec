// The original state (SPEC C2, the paper's OriginalXML): a canonical, deterministic XML
// serialization of field values. The same values always give the same bytes, and
// parsing gives back exactly the values that were written (times, dates, Unicode).
// Also used to keep a CRM record's attributes in the change table between steps.
#pragma once

#include <string>
#include <string_view>

#include "crmsync/model/text.hpp"
#include "crmsync/model/value.hpp"

namespace crmsync {

// Canonical XML of `fields` (sorted by name; null values are written as null).
std::string serialize_fields(const FieldMap& fields);

// Limits on what parse_fields accepts: a hostile or corrupt blob is kInvalid, never a crash.
inline constexpr std::size_t kMaxOriginalStateBytes = 8 * 1024 * 1024;

// Parses what serialize_fields wrote. Refuses DOCTYPE/entities, unknown elements or types,
// invalid UTF-8, deep nesting and oversized input with kInvalid naming the problem.
Result<FieldMap> parse_fields(std::string_view xml);

}  // namespace crmsync
