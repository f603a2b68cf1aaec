#include "exact.hpp"

#include <cstdio>
#include <type_traits>

namespace crmsync::fuzz {
namespace {

bool same_ref(const EntityRef& a, const EntityRef& b) {
  return a.entity == b.entity && a.id == b.id && a.name == b.name;
}

bool same_party(const Party& a, const Party& b) {
  if (a.address != b.address || a.name != b.name || a.ref.has_value() != b.ref.has_value())
    return false;
  return !a.ref || same_ref(*a.ref, *b.ref);
}

// Non-printable bytes as \xNN, cut after 80 characters.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

}  // namespace

bool same(const Value& a, const Value& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, EntityRef>) {
          return same_ref(x, y);
        } else if constexpr (std::is_same_v<T, PartyList>) {
          if (x.size() != y.size()) return false;
          for (std::size_t i = 0; i < x.size(); ++i)
            if (!same_party(x[i], y[i])) return false;
          return true;
        } else {
          return x == y;
        }
      },
      a);
}

std::string show(const Value& v) {
  std::string out(type_name(v));
  out += " '";
  out += printable(display(v));
  if (const auto* r = std::get_if<EntityRef>(&v)) out += "' name '" + printable(r->name);
  if (const auto* p = std::get_if<PartyList>(&v))
    for (const auto& party : *p)
      out += "' party(" + printable(party.address) + "|" + printable(party.name) + ")";
  return out + "'";
}

std::string difference(const FieldMap& a, const FieldMap& b) {
  auto ia = a.begin();
  auto ib = b.begin();
  for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
    if (ia->first != ib->first)
      return "field '" + printable(ia->first) + "' became '" + printable(ib->first) + "'";
    if (!same(ia->second, ib->second))
      return "field '" + printable(ia->first) + "': " + show(ia->second) +
             " != " + show(ib->second);
  }
  if (ia != a.end()) return "field '" + printable(ia->first) + "' was lost";
  if (ib != b.end()) return "field '" + printable(ib->first) + "' appeared";
  return {};
}

}  // namespace crmsync::fuzz
