// The endpoint's JSON writing, shared by route.cpp and decision_routes.cpp (private to
// crmsync_api): text is written as UTF-8 whatever bytes it held, times as ISO 8601.
#pragma once

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>

#include "crmsync/api/route.hpp"

namespace crmsync::api::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A string value; bytes that are not UTF-8 are written as U+FFFD, so that every reply parses.
void str(Writer& w, const std::string& s);
inline void key(Writer& w, const char* k) {
  w.Key(k);
}
void time_or_null(Writer& w, const std::optional<UtcTime>& t);
Response response(int status, const rapidjson::StringBuffer& buf);
// A non-negative decimal integer of at most 18 digits.
bool parse_int(const std::string& s, std::int64_t& out);

}  // namespace crmsync::api::json
