// Small text helpers shared by every parser and the merge.
#pragma once

#include <string>
#include <string_view>

namespace crmsync {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Appends code point `cp` (at most U+10FFFF, not a surrogate: the caller checks) as UTF-8.
void append_utf8(std::string& out, char32_t cp);

// `s` without leading and trailing spaces, tabs and line breaks.
std::string_view trim(std::string_view s);

// `s` with ASCII letters in lower case: how CRM compares text such as e-mail addresses (E2).
std::string ascii_lower(std::string_view s);

// `s` as a JSON string literal, quotes included: '"' and '\\' escaped, control characters as
// \u00XX; other bytes as they are.
std::string json_quote(std::string_view s);

}  // namespace crmsync
