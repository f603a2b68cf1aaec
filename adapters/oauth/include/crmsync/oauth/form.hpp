// application/x-www-form-urlencoded values (RFC 3986 unreserved characters kept).
#pragma once

#include <string>
#include <string_view>

namespace crmsync::oauth {
std::string form_encode(std::string_view s);
}
