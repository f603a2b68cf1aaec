// The pure conversions between MAPI's representations and crmsync's: FILETIME <-> UtcTime,
// binary entry ids and change keys <-> hex text, UTF-16 (PT_UNICODE) <-> UTF-8.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/model/result.hpp"
#include "crmsync/model/value.hpp"

namespace crmsync::mapi {

using Binary = std::vector<std::uint8_t>;

// FILETIME: 100 ns ticks since 1601-01-01T00:00:00Z, as one signed 64-bit number.
inline constexpr std::int64_t kFileTimeTicksPerMs = 10'000;
inline constexpr std::int64_t kFileTimeEpochOffsetMs = 11'644'473'600'000;  // 1601 -> 1970

// kInvalid for instants before 1601 or past FILETIME's range (year 30828).
Result<std::int64_t> to_filetime(UtcTime t);
// Truncates to the millisecond, towards the past (pre-1970 instants too). kInvalid for a
// negative FILETIME (its high bit set: not an instant).
Result<UtcTime> from_filetime(std::int64_t ticks);
// A calendar date as a FILETIME at its midnight UTC, and back as the nearest midnight: a date
// Outlook stored at local midnight anywhere in UTC-12..+12 keeps its day.
Result<std::int64_t> date_to_filetime(Date d);
Result<Date> date_from_filetime(std::int64_t ticks);

// Upper-case hex, two digits per byte (the form of MAPI entry ids in logs and in CRM's
// Outlook client).
std::string to_hex(const Binary& bytes);
// Accepts upper or lower case. kInvalid (naming the problem, not echoing long input) for an
// empty text, an odd length, a non-hex character, or more than `max_bytes` bytes.
Result<Binary> from_hex(std::string_view hex, std::size_t max_bytes);
// An entry id as crmsync's EntryId (hex), and back with the EntryId length limit.
std::string entry_id_text(const Binary& bytes);
Result<Binary> entry_id_bytes(std::string_view text);

// kInvalid for malformed UTF-8 and for NUL characters (PT_UNICODE strings end at the first).
Result<std::u16string> to_utf16(std::string_view utf8);
// Unpaired surrogates (a corrupt store string) become U+FFFD.
std::string to_utf8(std::u16string_view utf16);

}  // namespace crmsync::mapi
