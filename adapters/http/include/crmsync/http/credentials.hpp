// What the HTTP authentications share: base64 (Basic's user:password, NTLM's tokens) and the
// secrets kept in files (re-read when used, so that another process may replace them).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "crmsync/model/result.hpp"

namespace crmsync::http {

std::string base64_encode(std::string_view bytes);
// Strict: the alphabet, '=' padding only at the end, whole quanta (missing padding allowed);
// nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

// The file's text without trailing line breaks and blanks. kPermission naming `what` (never
// the path's contents) when it cannot be read or is empty.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

}  // namespace crmsync::http
