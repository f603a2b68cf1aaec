#include "field_codec.hpp"

#include "crmsync/model/text.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <limits>
#include <type_traits>

namespace crmsync::store_mock {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

bool real_date(const Date& d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1) return false;
  bool leap = (d.year % 4 == 0 && d.year % 100 != 0) || d.year % 400 == 0;
  int max = kDays[d.month - 1] + (d.month == 2 && leap ? 1 : 0);
  return d.day <= max;
}

Result<void> check_text(std::string_view field, std::string_view what, std::string_view s,
                        std::size_t max_bytes) {
  if (s.size() > max_bytes)
    return Error::Invalid("field " + std::string(field) + ": " + std::string(what) + " of " +
                          std::to_string(s.size()) + " bytes is longer than the limit of " +
                          std::to_string(max_bytes));
  if (!is_valid_utf8(s))
    return Error::Invalid("field " + std::string(field) + ": " + std::string(what) +
                          " is not valid UTF-8");
  return Ok();
}

std::string_view sv(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

Error bad(std::string_view field) {
  return Error::Corrupt("mock mailbox: malformed stored value of field " + std::string(field));
}

Result<Value> decode_value(std::string_view field, const rapidjson::Value& v) {
  if (!v.IsArray() || v.Size() < 2 || !v[0].IsString()) return bad(field);
  std::string_view tag = sv(v[0]);
  const auto& a = v.GetArray();
  if (tag == "s" && a.Size() == 2 && a[1].IsString()) return Value(std::string(sv(a[1])));
  if (tag == "i" && a.Size() == 2 && a[1].IsInt64()) return Value(a[1].GetInt64());
  if (tag == "b" && a.Size() == 2 && a[1].IsBool()) return Value(a[1].GetBool());
  if (tag == "t" && a.Size() == 2 && a[1].IsInt64()) return Value(UtcTime{a[1].GetInt64()});
  if (tag == "d" && a.Size() == 4 && a[1].IsInt() && a[2].IsInt() && a[3].IsInt())
    return Value(Date{a[1].GetInt(), a[2].GetInt(), a[3].GetInt()});
  auto ref = [&](const rapidjson::Value& e, const rapidjson::Value& g,
                 const rapidjson::Value& n) -> Result<EntityRef> {
    if (!e.IsString() || !g.IsString() || !n.IsString()) return bad(field);
    auto id = CrmId::parse(sv(g));
    if (!id) return bad(field);
    return EntityRef{std::string(sv(e)), *id, std::string(sv(n))};
  };
  if (tag == "r" && a.Size() == 4) {
    auto r = ref(a[1], a[2], a[3]);
    if (!r) return r.error();
    return Value(std::move(*r));
  }
  if (tag == "p" && a.Size() == 2 && a[1].IsArray()) {
    PartyList parties;
    for (const auto& p : a[1].GetArray()) {
      if (!p.IsArray() || (p.Size() != 2 && p.Size() != 5) || !p[0].IsString() || !p[1].IsString())
        return bad(field);
      Party party{std::string(sv(p[0])), std::string(sv(p[1])), std::nullopt};
      if (p.Size() == 5) {
        auto r = ref(p[2], p[3], p[4]);
        if (!r) return r.error();
        party.ref = std::move(*r);
      }
      parties.push_back(std::move(party));
    }
    return Value(std::move(parties));
  }
  return bad(field);
}

}  // namespace

Result<void> validate_value(std::string_view field, const Value& v, std::size_t max_bytes) {
  return std::visit(
      [&](const auto& x) -> Result<void> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return check_text(field, "text", x, max_bytes);
        } else if constexpr (std::is_same_v<T, Date>) {
          if (!real_date(x))
            return Error::Invalid("field " + std::string(field) + ": not a real date");
          return Ok();
        } else if constexpr (std::is_same_v<T, EntityRef>) {
          CRMSYNC_TRY(check_text(field, "entity name", x.entity, max_bytes));
          return check_text(field, "display name", x.name, max_bytes);
        } else if constexpr (std::is_same_v<T, PartyList>) {
          for (const auto& p : x) {
            CRMSYNC_TRY(check_text(field, "address", p.address, max_bytes));
            CRMSYNC_TRY(check_text(field, "name", p.name, max_bytes));
            if (p.ref) {
              CRMSYNC_TRY(check_text(field, "entity name", p.ref->entity, max_bytes));
              CRMSYNC_TRY(check_text(field, "display name", p.ref->name, max_bytes));
            }
          }
          return Ok();
        } else {
          return Ok();
        }
      },
      v);
}

std::string encode_fields(const FieldMap& fields) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [name, value] : fields) {
    if (is_null(value)) continue;
    write_string(w, name);
    w.StartArray();
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            w.String("s");
            write_string(w, x);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            w.String("i");
            w.Int64(x);
          } else if constexpr (std::is_same_v<T, bool>) {
            w.String("b");
            w.Bool(x);
          } else if constexpr (std::is_same_v<T, UtcTime>) {
            w.String("t");
            w.Int64(x.ms);
          } else if constexpr (std::is_same_v<T, Date>) {
            w.String("d");
            w.Int(x.year);
            w.Int(x.month);
            w.Int(x.day);
          } else if constexpr (std::is_same_v<T, EntityRef>) {
            w.String("r");
            write_string(w, x.entity);
            write_string(w, x.id.str());
            write_string(w, x.name);
          } else if constexpr (std::is_same_v<T, PartyList>) {
            w.String("p");
            w.StartArray();
            for (const auto& p : x) {
              w.StartArray();
              write_string(w, p.address);
              write_string(w, p.name);
              if (p.ref) {
                write_string(w, p.ref->entity);
                write_string(w, p.ref->id.str());
                write_string(w, p.ref->name);
              }
              w.EndArray();
            }
            w.EndArray();
          }
        },
        value);
    w.EndArray();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<FieldMap> decode_fields(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return Error::Corrupt("mock mailbox: malformed stored fields");
  FieldMap out;
  for (const auto& m : doc.GetObject()) {
    std::string name(sv(m.name));
    if (!is_valid_utf8(name)) return Error::Corrupt("mock mailbox: a field name is not UTF-8");
    auto v = decode_value(name, m.value);
    if (!v) return v.error();
    // encode_fields writes only what validate_value let in, and never a null ("" or [] would
    // vanish on the next write): anything else did not come from it.
    if (!validate_value(name, *v, std::numeric_limits<std::size_t>::max())) return bad(name);
    if (is_null(*v)) continue;
    out.emplace(std::move(name), std::move(*v));
  }
  return out;
}

std::string encode_categories(const std::vector<std::string>& categories) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const auto& c : categories) write_string(w, c);
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<std::vector<std::string>> decode_categories(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray())
    return Error::Corrupt("mock mailbox: malformed stored categories");
  std::vector<std::string> out;
  for (const auto& c : doc.GetArray()) {
    if (!c.IsString() || !is_valid_utf8(sv(c)))
      return Error::Corrupt("mock mailbox: a stored category is not UTF-8 text");
    out.emplace_back(sv(c));
  }
  return out;
}

}  // namespace crmsync::store_mock
