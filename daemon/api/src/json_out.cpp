#include "json_out.hpp"

#include <charconv>

#include "crmsync/model/text.hpp"

namespace crmsync::api::json {
namespace {

// JSON is UTF-8: bytes that are not (a query parameter echoed in an error, text that came
// from a store or CRM) are written as U+FFFD, so that every reply parses.
std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80             ? 1
                            : (c & 0xE0) == 0xC0 ? 2
                            : (c & 0xF0) == 0xE0 ? 3
                            : (c & 0xF8) == 0xF0 ? 4
                                                 : 0;
    if (len != 0 && i + len <= s.size() && is_valid_utf8(s.substr(i, len))) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

void str(Writer& w, const std::string& s) {
  if (is_valid_utf8(s)) {
    w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  const std::string fixed = replace_invalid_utf8(s);
  w.String(fixed.c_str(), static_cast<rapidjson::SizeType>(fixed.size()));
}

void time_or_null(Writer& w, const std::optional<UtcTime>& t) {
  if (t)
    str(w, t->iso());
  else
    w.Null();
}

Response response(int status, const rapidjson::StringBuffer& buf) {
  Response r;
  r.status = status;
  r.body = std::string(buf.GetString(), buf.GetSize());
  return r;
}

bool parse_int(const std::string& s, std::int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

}  // namespace crmsync::api::json
