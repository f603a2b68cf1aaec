// Small text helpers shared by every parser and the merge.
#pragma once

#include <string_view>

namespace crmsync {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

// `s` without leading and trailing spaces, tabs and line breaks.
std::string_view trim(std::string_view s);

}  // namespace crmsync
