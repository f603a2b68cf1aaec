// What the HTTP authentications share: the secrets kept in files (re-read when used, so that
// another process may replace them).
#pragma once

#include <string>
#include <string_view>

#include "crmsync/model/result.hpp"

namespace crmsync::http {

// The file's text without trailing line breaks and blanks. kPermission naming `what` (never
// the path's contents) when it cannot be read or is empty.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

}  // namespace crmsync::http
