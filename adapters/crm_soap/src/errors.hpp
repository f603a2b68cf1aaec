// Dynamics CRM faults and HTTP statuses as crmsync errors (ErrorKind by what the caller
// does next), and Retry-After parsing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "crmsync/http/client.hpp"
#include "crmsync/soap/envelope.hpp"

namespace crmsync::crm_soap {

inline constexpr std::int64_t kDuplicateRecord = -2147220937;      // 0x80040237
inline constexpr std::int64_t kObjectDoesNotExist = -2147220969;   // 0x80040217
inline constexpr std::int64_t kExpiredVersionStamp = -2147204270;  // 0x80044352
// "Principal with id ... does not have WriteAccess right(s) for record with id ...": the
// access check on one record failed after the privilege check passed.
inline constexpr std::int64_t kRecordAccessDenied = -2147187962;  // 0x80048306
// An update with ConcurrencyBehavior IfRowVersionMatches met another version of the record.
inline constexpr std::int64_t kConcurrencyVersionMismatch = -2147088254;  // 0x80060882

// A fault (top-level or one ExecuteMultiple item) as an Error.
Error error_from_fault(const soap::Fault& fault);
// Retry-After as an HTTP header: delta-seconds (an HTTP-date is not honoured: nullopt).
std::optional<int> retry_after_header_ms(std::string_view value);
// Retry-After as a fault detail: a TimeSpan "hh:mm:ss[.fff]", "d.hh:mm:ss" or an
// xs:duration "PT5S"; nullopt when unreadable.
std::optional<int> timespan_ms(std::string_view value);

}  // namespace crmsync::crm_soap
