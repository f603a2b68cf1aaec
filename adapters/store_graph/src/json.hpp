// JSON for the Graph adapter: a defensive reader (size cap, iterative parsing, UTF-8 checked, an
// object at the top) and small helpers to read members and build request bodies (RapidJSON).
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/model/result.hpp"
#include "crmsync/oauth/form.hpp"

namespace crmsync::graph {

using Json = rapidjson::Value;
using Doc = rapidjson::Document;
using Alloc = rapidjson::Document::AllocatorType;

// The top-level object of `body`; kInvalid naming `what` and the parse error (a truncated or
// malformed body, invalid UTF-8, not an object, over `max_bytes`).
Result<Doc> parse_object(std::string_view body, std::string_view what,
                         std::size_t max_bytes = 64u << 20);

const Json* member(const Json& obj, std::string_view key);
// The member's text; "" when absent, null or not a string.
std::string text(const Json& obj, std::string_view key);
// The member as text, or nullopt when absent or null; kInvalid when it is another JSON kind.
Result<std::optional<std::string>> opt_text(const Json& obj, std::string_view key);
// A string array member ("" entries kept); kInvalid when it is not one.
Result<std::vector<std::string>> text_list(const Json& obj, std::string_view key);

// Writer helpers over a Document's allocator.
Json str(std::string_view s, Alloc& a);
void put(Json& obj, std::string_view key, Json value, Alloc& a);
std::string serialize(const Json& v);

// Text Graph can carry: valid UTF-8 without NUL. kInvalid naming `field` otherwise.
Result<void> check_text(std::string_view field, std::string_view s);

// Percent-encodes a path segment or query value (RFC 3986 unreserved kept): crmsync_oauth's.
inline std::string url_encode(std::string_view s) {
  return oauth::form_encode(s);
}

}  // namespace crmsync::graph
