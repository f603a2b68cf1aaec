#include "crmsync/model/value.hpp"
#include "crmsync/model/text.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace crmsync {
namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Reads exactly `n` digits at `pos`.
bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool valid_date(int y, int m, int d) {
  using namespace std::chrono;
  return y >= 1 && y <= 9999 &&
         year_month_day{year{y}, month{static_cast<unsigned>(m)}, day{static_cast<unsigned>(d)}}
             .ok();
}

}  // namespace

Result<Date> Date::parse(std::string_view text) {
  Date d;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !read_digits(text, 0, 4, d.year) ||
      !read_digits(text, 5, 2, d.month) || !read_digits(text, 8, 2, d.day) ||
      !valid_date(d.year, d.month, d.day))
    return Error::Invalid("not a date (YYYY-MM-DD): '" + std::string(text.substr(0, 64)) + "'");
  return d;
}

std::string Date::iso() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

std::int64_t Date::days_since_epoch() const {
  using namespace std::chrono;
  return sys_days{std::chrono::year{year} / static_cast<unsigned>(month) /
                  static_cast<unsigned>(day)}
      .time_since_epoch()
      .count();
}

Date Date::from_days_since_epoch(std::int64_t days) {
  using namespace std::chrono;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  return Date{static_cast<int>(ymd.year()), static_cast<int>(static_cast<unsigned>(ymd.month())),
              static_cast<int>(static_cast<unsigned>(ymd.day()))};
}

Result<UtcTime> UtcTime::parse(std::string_view text) {
  auto bad = [&] {
    return Error::Invalid("not an ISO 8601 time: '" + std::string(text.substr(0, 64)) + "'");
  };
  if (text.size() < 19 || text.size() > 40) return bad();
  auto date = Date::parse(text.substr(0, 10));
  if (!date.ok() || (text[10] != 'T' && text[10] != ' ')) return bad();
  int hh, mm, ss;
  if (!read_digits(text, 11, 2, hh) || text[13] != ':' || !read_digits(text, 14, 2, mm) ||
      text[16] != ':' || !read_digits(text, 17, 2, ss) || hh > 23 || mm > 59 || ss > 60)
    return bad();
  std::size_t pos = 19;
  std::int64_t ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) ms = ms * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return bad();
    for (std::size_t i = digits; i < 3; ++i) ms *= 10;
  }
  std::int64_t offset_min = 0;
  if (pos < text.size() && text[pos] == 'Z') {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh, om;
    if (!read_digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !read_digits(text, pos + 4, 2, om) || oh > 23 || om > 59)
      return bad();
    offset_min = (oh * 60 + om) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();  // a time without a zone is ambiguous: refuse it
  }
  if (pos != text.size()) return bad();
  std::int64_t total = date->days_since_epoch() * kMsPerDay +
                       ((hh * 60 + mm) * 60 + std::min(ss, 59)) * std::int64_t{1000} + ms -
                       offset_min * 60'000;
  return UtcTime{total};
}

std::string UtcTime::iso() const {
  std::int64_t days = floor_div(ms, kMsPerDay);
  std::int64_t rest = ms - days * kMsPerDay;
  Date d = Date::from_days_since_epoch(days);
  int msec = static_cast<int>(rest % 1000);
  int sec = static_cast<int>(rest / 1000);
  char buf[40];
  if (msec != 0)
    std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%03dZ", d.iso().c_str(), sec / 3600,
                  sec / 60 % 60, sec % 60, msec);
  else
    std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02dZ", d.iso().c_str(), sec / 3600, sec / 60 % 60,
                  sec % 60);
  return buf;
}

Result<EntityRef> EntityRef::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Error::Invalid("not ENTITY:GUID: '" + std::string(text.substr(0, 80)) + "'");
  std::string_view entity = text.substr(0, colon);
  for (char c : entity)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return Error::Invalid("not an entity name: '" + std::string(entity.substr(0, 64)) + "'");
  auto id = CrmId::parse(text.substr(colon + 1));
  if (!id.ok()) return id.error();
  return EntityRef{std::string(entity), *id, {}};
}

bool Party::operator==(const Party& o) const {
  if (ref && o.ref) return *ref == *o.ref;
  return address == o.address && ref.has_value() == o.ref.has_value();
}

std::weak_ordering Party::operator<=>(const Party& o) const {
  if (ref && o.ref) return *ref <=> *o.ref;
  if (ref.has_value() != o.ref.has_value()) return ref.has_value() <=> o.ref.has_value();
  return address <=> o.address;
}

bool is_null(const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) return true;
  if (const auto* s = std::get_if<std::string>(&v)) return trim(*s).empty();
  if (const auto* p = std::get_if<PartyList>(&v)) return p->empty();
  return false;
}

bool equivalent(const Value& a, const Value& b) {
  if (is_null(a) || is_null(b)) return is_null(a) && is_null(b);
  if (a.index() != b.index()) return false;
  if (const auto* s = std::get_if<std::string>(&a))
    return trim(*s) == trim(std::get<std::string>(b));
  return a == b;
}

std::string display(const Value& v) {
  struct Visitor {
    std::string operator()(std::monostate) const { return ""; }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(UtcTime t) const { return t.iso(); }
    std::string operator()(Date d) const { return d.iso(); }
    std::string operator()(const EntityRef& r) const { return r.str(); }
    std::string operator()(const PartyList& parties) const {
      std::string out;
      for (const auto& p : parties) {
        if (!out.empty()) out += "; ";
        if (!p.name.empty() && !p.address.empty())
          out += p.name + " <" + p.address + ">";
        else if (!p.address.empty())
          out += p.address;
        else if (p.ref)
          out += p.ref->str();
        else
          out += p.name;
      }
      return out;
    }
  };
  return std::visit(Visitor{}, v);
}

std::string_view type_name(const Value& v) {
  static constexpr std::string_view kNames[] = {"null", "text", "integer",   "bool",
                                                "time", "date", "reference", "parties"};
  return kNames[v.index()];
}

}  // namespace crmsync
