// Small helpers: base64, random opaque ids, UTC timestamps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ews_emulator {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not canonical base64.
std::optional<std::string> base64_decode(std::string_view text);

// `n` random bytes from a process-wide generator.
std::string random_bytes(std::size_t n);

// Opaque ids: base64 of a one-byte kind tag, two marker bytes and a payload.
std::string make_opaque(char kind, std::string_view payload);
// The payload when `text` is an id of that kind, else nullopt.
std::optional<std::string> open_opaque(char kind, std::string_view text);

std::string be64(std::uint64_t v);
std::uint64_t from_be64(std::string_view s);

// Seconds since the epoch of a UTC calendar time, and back as xs:dateTime with a Z suffix.
std::int64_t utc_seconds(int year, int month, int day, int hour, int minute, int second);
std::string format_utc_seconds(std::int64_t seconds);

// Current UTC time as xs:dateTime with a Z suffix, second precision.
std::string now_utc();
// Milliseconds since the epoch, for ordering.
std::int64_t now_ms();

// Lower-case ASCII copy.
std::string lower(std::string_view s);

}  // namespace ews_emulator
