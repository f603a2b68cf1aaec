#include "util.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "emulator/admin.hpp"

namespace graph_emulator {

namespace {

std::string random_bytes(std::size_t n) {
  std::string b(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(n));
  return b;
}

std::string base64(const std::string& in, const char* alphabet, bool pad) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (i + 1 < in.size()) out += alphabet[(v >> 6) & 63];
    if (pad) out += i + 1 < in.size() ? "=" : "==";
  }
  return out;
}

const char* kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char* kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

GraphError not_found(const std::string& what) {
  return GraphError(404, "ErrorItemNotFound", what);
}

GraphError bad_request(const std::string& code, const std::string& message) {
  return GraphError(400, code, message);
}

emulator::Reply error_reply(const GraphError& e, const std::string& client_request_id) {
  std::int64_t now = emulator::now_ms();
  std::string request_id = new_guid();
  std::string client = client_request_id.empty() ? new_guid() : client_request_id;
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(e.code.c_str());
  w.Key("message");
  w.String(e.what());
  w.Key("innerError");
  w.StartObject();
  if (!e.inner_code.empty()) {
    w.Key("code");
    w.String(e.inner_code.c_str());
  }
  w.Key("date");
  w.String(format_inner_date(now).c_str());
  w.Key("request-id");
  w.String(request_id.c_str());
  w.Key("client-request-id");
  w.String(client.c_str());
  if (!e.inner_code.empty()) {
    w.Key("status");
    w.String(e.inner_code.c_str());
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  auto r = emulator::Reply::json(e.status, b.GetString());
  r.with("request-id", request_id).with("client-request-id", client);
  for (const auto& h : e.headers) r.with(h.name, h.value);
  return r;
}

std::string new_guid() {
  std::string b = random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[(static_cast<unsigned char>(b[i]) >> 4) & 15];
    out += hex[static_cast<unsigned char>(b[i]) & 15];
  }
  return out;
}

std::string new_item_id() {
  return "AAMkA" + base64(random_bytes(40), kUrl, true);
}
std::string new_change_key() {
  return base64(random_bytes(16), kStd, true);
}
std::string random_token(std::size_t bytes) {
  return base64(random_bytes(bytes), kUrl, false);
}

std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int>(yoe) + static_cast<int>(era) * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

std::string format_utc(std::int64_t ms, int digits) {
  std::int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
  std::int64_t rest = ms - days * 86400000;
  int y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  char buf[64];
  int h = static_cast<int>(rest / 3600000), mi = static_cast<int>(rest / 60000 % 60),
      s = static_cast<int>(rest / 1000 % 60), milli = static_cast<int>(rest % 1000);
  if (digits == 7)
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03d0000Z", y, mo, d, h, mi, s,
                  milli);
  else
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
  return buf;
}

std::string format_inner_date(std::int64_t ms) {
  std::string s = format_utc(ms, 0);
  return s.substr(0, 19);
}

std::optional<std::int64_t> parse_iso_utc(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return std::nullopt;
  std::size_t pos = 10;
  double frac = 0;
  std::int64_t offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T') return std::nullopt;
    if (std::sscanf(s.c_str() + pos, "T%2d:%2d%n", &h, &mi, &n) != 2) return std::nullopt;
    pos += static_cast<std::size_t>(n);
    if (pos < s.size() && s[pos] == ':') {
      if (std::sscanf(s.c_str() + pos, ":%2d%n", &sec, &n) != 1) return std::nullopt;
      pos += static_cast<std::size_t>(n);
      if (pos < s.size() && s[pos] == '.') {
        std::size_t start = pos++;
        while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
        frac = std::stod("0" + s.substr(start, pos - start));
      }
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z' && pos + 1 == s.size()) {
        ++pos;
      } else if ((s[pos] == '+' || s[pos] == '-') && s.size() - pos == 6) {
        int oh, om;
        if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
        offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
        pos = s.size();
      } else {
        return std::nullopt;
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 +
         static_cast<std::int64_t>(frac * 1000);
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer b;
  Writer w(b);
  v.Accept(w);
  return b.GetString();
}

std::string str_member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void put_value(rapidjson::Value& obj, const std::string& key, rapidjson::Value& value,
               rapidjson::Document::AllocatorType& a) {
  auto it = obj.FindMember(key.c_str());
  if (it != obj.MemberEnd()) {
    it->value = value;
    return;
  }
  obj.AddMember(rapidjson::Value(key.c_str(), a), value, a);
}

void put_string(rapidjson::Value& obj, const char* key, const std::string& value,
                rapidjson::Document::AllocatorType& a) {
  rapidjson::Value v(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), a);
  put_value(obj, key, v, a);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool iequal(const std::string& a, const std::string& b) {
  return emulator::iequals(a, b);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    auto next = s.find(sep, pos);
    out.push_back(s.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace graph_emulator
