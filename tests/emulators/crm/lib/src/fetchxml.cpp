// FetchXML (the subset an Outlook filter uses, and a little more) evaluated over the store,
// and the userquery/savedquery entities that hold the users' Outlook filters.
#include "fetchxml.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <functional>
#include <set>
#include <unordered_map>

#include <tinyxml2.h>

#include "xml.hpp"

namespace crm_emulator {
namespace {

using tinyxml2::XMLElement;

[[noreturn]] void invalid(const std::string& msg) {
  throw Fault(err::kInvalidXml, msg);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The operator enumeration of the fetch schema (fetch.xsd, "operator").
const std::set<std::string>& schema_operators() {
  static const std::set<std::string> ops = {"eq",
                                            "neq",
                                            "ne",
                                            "gt",
                                            "ge",
                                            "le",
                                            "lt",
                                            "like",
                                            "not-like",
                                            "in",
                                            "not-in",
                                            "between",
                                            "not-between",
                                            "null",
                                            "not-null",
                                            "yesterday",
                                            "today",
                                            "tomorrow",
                                            "last-seven-days",
                                            "next-seven-days",
                                            "last-week",
                                            "this-week",
                                            "next-week",
                                            "last-month",
                                            "this-month",
                                            "next-month",
                                            "on",
                                            "on-or-before",
                                            "on-or-after",
                                            "last-year",
                                            "this-year",
                                            "next-year",
                                            "last-x-hours",
                                            "next-x-hours",
                                            "last-x-days",
                                            "next-x-days",
                                            "last-x-weeks",
                                            "next-x-weeks",
                                            "last-x-months",
                                            "next-x-months",
                                            "olderthan-x-months",
                                            "olderthan-x-years",
                                            "olderthan-x-weeks",
                                            "olderthan-x-days",
                                            "olderthan-x-hours",
                                            "olderthan-x-minutes",
                                            "last-x-years",
                                            "next-x-years",
                                            "eq-userid",
                                            "ne-userid",
                                            "eq-userteams",
                                            "eq-useroruserteams",
                                            "eq-useroruserhierarchy",
                                            "eq-useroruserhierarchyandteams",
                                            "eq-businessid",
                                            "ne-businessid",
                                            "eq-userlanguage",
                                            "this-fiscal-year",
                                            "this-fiscal-period",
                                            "next-fiscal-year",
                                            "next-fiscal-period",
                                            "last-fiscal-year",
                                            "last-fiscal-period",
                                            "last-x-fiscal-years",
                                            "last-x-fiscal-periods",
                                            "next-x-fiscal-years",
                                            "next-x-fiscal-periods",
                                            "in-fiscal-year",
                                            "in-fiscal-period",
                                            "in-fiscal-period-and-year",
                                            "in-or-before-fiscal-period-and-year",
                                            "in-or-after-fiscal-period-and-year",
                                            "begins-with",
                                            "not-begin-with",
                                            "ends-with",
                                            "not-end-with",
                                            "under",
                                            "eq-or-under",
                                            "not-under",
                                            "above",
                                            "eq-or-above",
                                            "contain-values",
                                            "not-contain-values"};
  return ops;
}

// What the emulator evaluates; the other schema operators get a clear "not supported" fault.
const std::set<std::string>& supported_operators() {
  static const std::set<std::string> ops = {"eq",
                                            "neq",
                                            "ne",
                                            "gt",
                                            "ge",
                                            "le",
                                            "lt",
                                            "like",
                                            "not-like",
                                            "in",
                                            "not-in",
                                            "between",
                                            "not-between",
                                            "null",
                                            "not-null",
                                            "yesterday",
                                            "today",
                                            "tomorrow",
                                            "last-seven-days",
                                            "next-seven-days",
                                            "on",
                                            "on-or-before",
                                            "on-or-after",
                                            "last-year",
                                            "this-year",
                                            "next-year",
                                            "last-x-hours",
                                            "next-x-hours",
                                            "last-x-days",
                                            "next-x-days",
                                            "olderthan-x-days",
                                            "eq-userid",
                                            "ne-userid",
                                            "eq-businessid",
                                            "ne-businessid",
                                            "begins-with",
                                            "not-begin-with",
                                            "ends-with",
                                            "not-end-with"};
  return ops;
}

enum class Arity { kNone, kOne, kTwo, kMany };

Arity arity(const std::string& op) {
  static const std::set<std::string> none = {
      "null",          "not-null",        "yesterday",       "today",
      "tomorrow",      "last-seven-days", "next-seven-days", "last-year",
      "this-year",     "next-year",       "eq-userid",       "ne-userid",
      "eq-businessid", "ne-businessid"};
  if (none.count(op)) return Arity::kNone;
  if (op == "in" || op == "not-in") return Arity::kMany;
  if (op == "between" || op == "not-between") return Arity::kTwo;
  return Arity::kOne;
}

struct FCond {
  std::string entityname;  // a link-entity's alias, or "" for the entity the filter is on
  std::string attr, op;
  std::vector<std::string> values;
};

struct FFilter {
  bool is_or = false;
  std::vector<FCond> conds;
  std::vector<FFilter> subs;
};

struct FLink {
  const EntityMeta* meta = nullptr;
  std::string from, to, alias;
  bool outer = false;
  FFilter filter;
  std::vector<FLink> links;
};

struct FOrder {
  std::string attr;
  bool desc = false;
};

struct FQuery {
  const EntityMeta* meta = nullptr;
  bool all = false;
  std::vector<std::string> cols;
  std::vector<FOrder> orders;
  FFilter filter;
  std::vector<FLink> links;
  int count = 0, page = 1, top = 0;
  std::string cookie;
  bool total = false;
};

// ------------------------------------------------------------------ parsing

const EntityMeta& entity_meta(const std::string& name) {
  const EntityMeta* m = find_entity(name);
  if (!m)
    throw Fault(err::kEntityNotFound,
                "The entity with a name = '" + name + "' was not found in the MetadataCache.");
  return *m;
}

void need_attribute(const EntityMeta& m, const std::string& a) {
  if (!m.attrs.count(a))
    throw Fault(err::kAttributeNotFound,
                "'" + m.name + "' entity doesn't contain attribute with Name = '" + a + "'.");
}

std::string attr(const XMLElement* e, const char* name) {
  const char* v = e->Attribute(name);
  return v ? v : "";
}

int int_attr(const XMLElement* e, const char* name, int dflt) {
  const char* v = e->Attribute(name);
  if (!v) return dflt;
  std::string s = v;
  try {
    std::size_t n = 0;
    long long x = std::stoll(s, &n);
    if (n != s.size() || x < 0 || x > 1000000000) throw std::invalid_argument(s);
    return static_cast<int>(x);
  } catch (const std::exception&) {
    invalid("The '" + std::string(name) + "' attribute is invalid - The value '" + s +
            "' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:int'.");
  }
}

struct Parser {
  int links = 0;
  std::map<std::string, const EntityMeta*> aliases;  // link-entity alias -> its entity

  void unknown_element(const XMLElement* e, const char* parent) {
    invalid("The element '" + std::string(parent) + "' has invalid child element '" +
            std::string(e->Name()) + "'.");
  }

  FCond condition(const XMLElement* e) {
    FCond c;
    c.attr = attr(e, "attribute");
    c.op = attr(e, "operator");
    c.entityname = attr(e, "entityname");
    if (c.op.empty()) invalid("The required attribute 'operator' is missing.");
    if (c.attr.empty()) invalid("The required attribute 'attribute' is missing.");
    if (!schema_operators().count(c.op))
      invalid("The 'operator' attribute is invalid - The value '" + c.op +
              "' is invalid according to its datatype 'http://tempuri.org/fetch/unique:operator' "
              "- The Enumeration constraint failed.");
    if (const char* v = e->Attribute("value")) c.values.emplace_back(v);
    for (auto* v = e->FirstChildElement(); v; v = v->NextSiblingElement()) {
      if (std::string_view(v->Name()) != "value") unknown_element(v, "condition");
      if (v->FirstChildElement()) invalid("A condition value must be text.");
      c.values.emplace_back(v->GetText() ? v->GetText() : "");
    }
    return c;
  }

  FFilter filter(const XMLElement* e, int depth) {
    if (depth > kMaxFetchDepth)
      invalid("The FetchXML nests filters and link-entities deeper than " +
              std::to_string(kMaxFetchDepth) + " levels.");
    FFilter f;
    std::string type = attr(e, "type");
    if (type.empty() || type == "and")
      f.is_or = false;
    else if (type == "or")
      f.is_or = true;
    else
      invalid("The 'type' attribute is invalid - The value '" + type +
              "' is invalid according to its datatype 'filterType'.");
    for (auto* c = e->FirstChildElement(); c; c = c->NextSiblingElement()) {
      std::string_view n = c->Name();
      if (n == "condition")
        f.conds.push_back(condition(c));
      else if (n == "filter")
        f.subs.push_back(filter(c, depth + 1));
      else
        unknown_element(c, "filter");
    }
    return f;
  }

  FLink link(const XMLElement* e, const EntityMeta& parent, int depth) {
    if (depth > kMaxFetchDepth)
      invalid("The FetchXML nests filters and link-entities deeper than " +
              std::to_string(kMaxFetchDepth) + " levels.");
    if (++links > kMaxFetchLinkEntities)
      invalid("Number of link entities in query exceeded maximum limit of " +
              std::to_string(kMaxFetchLinkEntities) + ".");
    FLink l;
    std::string name = attr(e, "name");
    if (name.empty()) invalid("The required attribute 'name' of link-entity is missing.");
    l.meta = &entity_meta(name);
    l.from = attr(e, "from");
    l.to = attr(e, "to");
    if (l.from.empty()) l.from = l.meta->primary_id;
    if (l.to.empty()) l.to = parent.primary_id;
    need_attribute(*l.meta, l.from);
    need_attribute(parent, l.to);
    l.alias = attr(e, "alias");
    std::string type = attr(e, "link-type");
    if (type.empty() || type == "inner")
      l.outer = false;
    else if (type == "outer")
      l.outer = true;
    else
      invalid("The link-type '" + type + "' is not supported by the crm-emulator (inner, outer).");
    if (name == "activityparty" && (l.from != "activityid" || l.to != "activityid"))
      invalid(
          "The crm-emulator links activityparty only from activityid to activityid of an "
          "activity.");
    if (!l.alias.empty()) aliases[l.alias] = l.meta;
    for (auto* c = e->FirstChildElement(); c; c = c->NextSiblingElement()) {
      std::string_view n = c->Name();
      if (n == "filter") {
        FFilter f = filter(c, depth + 1);
        l.filter.subs.push_back(std::move(f));
      } else if (n == "link-entity") {
        l.links.push_back(link(c, *l.meta, depth + 1));
      } else if (n == "attribute") {
        need_attribute(*l.meta, attr(c, "name"));  // checked; aliased values are not returned
      } else if (n == "all-attributes" || n == "order") {
        continue;
      } else {
        unknown_element(c, "link-entity");
      }
    }
    return l;
  }

  // Conditions name attributes of their entity, or (entityname) of an aliased link-entity.
  void check(const EntityMeta& m, const FFilter& f) {
    for (const auto& c : f.conds) {
      const EntityMeta* target = &m;
      if (!c.entityname.empty()) {
        auto it = aliases.find(c.entityname);
        if (it == aliases.end())
          invalid("The entityname '" + c.entityname +
                  "' of a condition names no link-entity alias.");
        target = it->second;
      }
      need_attribute(*target, c.attr);
      if (!supported_operators().count(c.op))
        throw Fault(err::kUnexpected,
                    "The condition operator '" + c.op + "' is not supported by the crm-emulator.");
      Arity a = arity(c.op);
      bool ok = a == Arity::kNone  ? c.values.empty()
                : a == Arity::kOne ? c.values.size() == 1
                : a == Arity::kTwo ? c.values.size() == 2
                                   : !c.values.empty();
      if (!ok)
        throw Fault(err::kInvalidArgument, "The condition operator '" + c.op + "' on '" + c.attr +
                                               "' got " + std::to_string(c.values.size()) +
                                               " values.");
    }
    for (const auto& s : f.subs) check(m, s);
  }
  void check(const FLink& l) {
    check(*l.meta, l.filter);
    for (const auto& s : l.links) check(s);
  }

  FQuery parse(const std::string& text) {
    if (text.size() > kMaxFetchXmlBytes)
      invalid("The FetchXML is " + std::to_string(text.size()) + " bytes; the crm-emulator takes " +
              std::to_string(kMaxFetchXmlBytes) + " at most.");
    std::string upper = text;
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (upper.find("<!DOCTYPE") != std::string::npos || upper.find("<!ENTITY") != std::string::npos)
      invalid("DTDs are not allowed in FetchXML.");
    tinyxml2::XMLDocument doc(true, tinyxml2::COLLAPSE_WHITESPACE);
    if (doc.Parse(text.data(), text.size()) != tinyxml2::XML_SUCCESS)
      invalid(std::string("The FetchXML is not well-formed XML: ") +
              (doc.ErrorStr() ? doc.ErrorStr() : "?"));
    const XMLElement* fetch = doc.RootElement();
    if (!fetch || std::string_view(fetch->Name()) != "fetch")
      invalid("The root element of FetchXML must be 'fetch'.");
    if (attr(fetch, "aggregate") == "true")
      throw Fault(err::kUnexpected, "Aggregate FetchXML is not supported by the crm-emulator.");
    FQuery q;
    q.count = int_attr(fetch, "count", 0);
    q.page = int_attr(fetch, "page", 1);
    q.top = int_attr(fetch, "top", 0);
    q.cookie = attr(fetch, "paging-cookie");
    q.total = attr(fetch, "returntotalrecordcount") == "true";
    if (q.top > 0 && (fetch->Attribute("count") || fetch->Attribute("page")))
      throw Fault(err::kInvalidArgument,
                  "The top attribute can't be specified with paging attribute page or count.");
    if (q.top > 5000) throw Fault(err::kInvalidArgument, "The top attribute must be 5000 or less.");
    if (q.count <= 0 || q.count > 5000) q.count = 5000;
    if (q.page <= 0) q.page = 1;
    const XMLElement* entity = nullptr;
    for (auto* c = fetch->FirstChildElement(); c; c = c->NextSiblingElement()) {
      if (std::string_view(c->Name()) != "entity" || entity) unknown_element(c, "fetch");
      entity = c;
    }
    if (!entity) invalid("The element 'fetch' has incomplete content: 'entity' is missing.");
    std::string name = attr(entity, "name");
    if (name.empty()) invalid("The required attribute 'name' of entity is missing.");
    q.meta = &entity_meta(name);
    if (name == "activityparty")
      throw Fault(err::kUnexpected,
                  "activityparty is queried through link-entity in the emulator.");
    for (auto* c = entity->FirstChildElement(); c; c = c->NextSiblingElement()) {
      std::string_view n = c->Name();
      if (n == "attribute") {
        std::string a = attr(c, "name");
        need_attribute(*q.meta, a);
        q.cols.push_back(a);
      } else if (n == "all-attributes") {
        q.all = true;
      } else if (n == "order") {
        FOrder o{attr(c, "attribute"), attr(c, "descending") == "true"};
        if (o.attr.empty())
          invalid("An order needs an attribute (aliased orders are not supported).");
        need_attribute(*q.meta, o.attr);
        q.orders.push_back(o);
      } else if (n == "filter") {
        q.filter.subs.push_back(filter(c, 1));
      } else if (n == "link-entity") {
        q.links.push_back(link(c, *q.meta, 1));
      } else {
        unknown_element(c, "entity");
      }
    }
    check(*q.meta, q.filter);
    for (const auto& l : q.links) check(l);
    return q;
  }
};

// ------------------------------------------------------------------ evaluation

struct Key {
  bool null = true;
  bool num = false;
  double n = 0;
  std::string t;
};

Key record_key(const Value* v) {
  Key k;
  if (!v || v->is_null()) return k;
  k.null = false;
  switch (v->type) {
    case Value::Type::Int:
    case Value::Type::Long:
    case Value::Type::OptionSet:
    case Value::Type::Bool:
      k.num = true;
      k.n = static_cast<double>(v->i);
      break;
    case Value::Type::Money:
    case Value::Type::Decimal:
    case Value::Type::Double:
      k.num = true;
      k.n = std::stod(v->s);
      break;
    case Value::Type::Ref:
      k.t = v->ref.id;
      break;
    case Value::Type::String:
      k.t = lower(v->s);
      break;
    case Value::Type::Parties:
      k.null = v->parties.empty();
      break;
    default:
      k.t = v->s;
  }
  return k;
}

std::string normalize_when(const std::string& text) {
  std::string t = text;
  if (t.size() == 10) t += "T00:00:00Z";
  return normalize_datetime(t);
}

Key value_key(const std::string& text, const EntityMeta& m, const std::string& attr_name) {
  AttrType type = m.attrs.at(attr_name).type;
  Key k;
  k.null = false;
  auto bad = [&]() -> Key {
    throw Fault(err::kInvalidArgument,
                "An exception System.FormatException was thrown while "
                "trying to convert input value '" +
                    text + "' to attribute '" + m.name + "." + attr_name + "'.");
  };
  switch (type) {
    case AttrType::Int:
    case AttrType::OptionSet:
    case AttrType::Bool:
    case AttrType::Money:
    case AttrType::Decimal:
    case AttrType::Double: {
      k.num = true;
      std::string s = lower(text);
      if (type == AttrType::Bool && (s == "true" || s == "false")) {
        k.n = s == "true" ? 1 : 0;
        return k;
      }
      try {
        std::size_t n = 0;
        k.n = std::stod(s, &n);
        if (n != s.size()) return bad();
      } catch (const std::exception&) {
        return bad();
      }
      return k;
    }
    case AttrType::DateTime:
      k.t = normalize_when(text);
      if (k.t.empty()) return bad();
      return k;
    case AttrType::Guid:
    case AttrType::Lookup:
      k.t = normalize_guid(text);
      if (k.t.empty()) return bad();
      return k;
    default:
      k.t = lower(text);
      return k;
  }
}

int compare(const Key& a, const Key& b) {
  if (a.num && b.num) return a.n < b.n ? -1 : (a.n > b.n ? 1 : 0);
  return a.t < b.t ? -1 : (a.t > b.t ? 1 : 0);
}

bool like(std::string_view s, std::string_view p) {
  std::size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '_' || p[pi] == s[si])) {
      ++si;
      ++pi;
    } else if (pi < p.size() && p[pi] == '%') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

std::string iso(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t day_start(std::int64_t t) {
  return t - ((t % 86400) + 86400) % 86400;
}

std::int64_t parse_count(const std::string& s) {
  try {
    std::size_t n = 0;
    long long v = std::stoll(s, &n);
    if (n != s.size() || v < 0 || v > 100000) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    throw Fault(err::kInvalidArgument, "The value '" + s + "' is not a valid count.");
  }
}

struct Evaluator {
  Store& store;
  const FetchContext& ctx;
  std::int64_t now;
  std::map<std::string, const FLink*> aliases;
  // (entity, attribute) -> value key -> records: for links that do not join on a primary id.
  std::map<std::pair<std::string, std::string>,
           std::unordered_map<std::string, std::vector<Record>>>
      index;

  bool cond(const EntityMeta& m, const Record& r, const FCond& c) {
    auto it = r.attrs.find(c.attr);
    const Value* v = it == r.attrs.end() ? nullptr : &it->second;
    Key k = record_key(v);
    const std::string& op = c.op;
    if (op == "null") return k.null;
    if (op == "not-null") return !k.null;
    if (op == "eq-userid") return !k.null && k.t == ctx.user_id;
    if (op == "ne-userid") return !k.null && k.t != ctx.user_id;
    if (op == "eq-businessid") return !k.null && k.t == ctx.business_unit_id;
    if (op == "ne-businessid") return !k.null && k.t != ctx.business_unit_id;
    if (k.null) return false;  // SQL: a comparison with NULL is never true
    auto val = [&](std::size_t i) { return value_key(c.values.at(i), m, c.attr); };
    if (op == "eq") return compare(k, val(0)) == 0;
    if (op == "ne" || op == "neq") return compare(k, val(0)) != 0;
    if (op == "gt") return compare(k, val(0)) > 0;
    if (op == "ge") return compare(k, val(0)) >= 0;
    if (op == "lt") return compare(k, val(0)) < 0;
    if (op == "le") return compare(k, val(0)) <= 0;
    if (op == "in" || op == "not-in") {
      bool any = false;
      for (std::size_t i = 0; i < c.values.size() && !any; ++i) any = compare(k, val(i)) == 0;
      return op == "in" ? any : !any;
    }
    if (op == "between" || op == "not-between") {
      bool in = compare(k, val(0)) >= 0 && compare(k, val(1)) <= 0;
      return op == "between" ? in : !in;
    }
    auto pattern = [&] { return lower(c.values.at(0)); };
    if (op == "like") return like(k.t, pattern());
    if (op == "not-like") return !like(k.t, pattern());
    if (op == "begins-with") return like(k.t, pattern() + "%");
    if (op == "not-begin-with") return !like(k.t, pattern() + "%");
    if (op == "ends-with") return like(k.t, "%" + pattern());
    if (op == "not-end-with") return !like(k.t, "%" + pattern());
    // Dates (UTC: the emulator has no user time zone).
    const std::string& when = k.t;
    if (m.attrs.at(c.attr).type != AttrType::DateTime)
      throw Fault(err::kInvalidArgument, "The condition operator '" + op +
                                             "' needs a date attribute, not '" + c.attr + "'.");
    std::string day = when.substr(0, 10);
    auto day_of = [&](std::int64_t t) { return iso(t).substr(0, 10); };
    std::int64_t today = day_start(now);
    if (op == "on") return day == val(0).t.substr(0, 10);
    if (op == "on-or-after") return day >= val(0).t.substr(0, 10);
    if (op == "on-or-before") return day <= val(0).t.substr(0, 10);
    if (op == "today") return day == day_of(today);
    if (op == "yesterday") return day == day_of(today - 86400);
    if (op == "tomorrow") return day == day_of(today + 86400);
    std::string year = iso(now).substr(0, 4);
    if (op == "this-year") return when.substr(0, 4) == year;
    if (op == "last-year") return when.substr(0, 4) == std::to_string(std::stoi(year) - 1);
    if (op == "next-year") return when.substr(0, 4) == std::to_string(std::stoi(year) + 1);
    auto within = [&](std::int64_t from, std::int64_t to) {
      return when >= iso(from) && when <= iso(to);
    };
    if (op == "last-seven-days") return within(today - 7 * 86400, now);
    if (op == "next-seven-days") return within(now, today + 8 * 86400 - 1);
    std::int64_t x = parse_count(c.values.at(0));
    if (op == "last-x-days") return within(today - x * 86400, now);
    if (op == "next-x-days") return within(now, today + (x + 1) * 86400 - 1);
    if (op == "last-x-hours") return within(now - x * 3600, now);
    if (op == "next-x-hours") return within(now, now + x * 3600);
    if (op == "olderthan-x-days") return when < iso(today - x * 86400);
    throw Fault(err::kUnexpected, "The condition operator '" + op + "' is not supported.");
  }

  // An activity's parties as activityparty rows: its party lists, and its owner (mask 9).
  std::vector<Record> parties(const Record& r) {
    std::vector<Record> out;
    auto row = [&](const std::optional<EntityRef>& who, const std::string& address, int mask) {
      Record p{"activityparty", "", {}};
      if (who) p.attrs["partyid"] = Value::reference(who->logical, who->id);
      if (!address.empty()) p.attrs["addressused"] = Value::str(address);
      p.attrs["participationtypemask"] = Value::option(mask);
      p.attrs["activityid"] = Value::reference(r.entity, r.id);
      out.push_back(std::move(p));
    };
    for (const auto& [k, v] : r.attrs)
      if (v.type == Value::Type::Parties)
        for (const auto& p : v.parties) row(p.partyid, p.addressused, p.participationtypemask);
    if (auto o = r.attrs.find("ownerid"); o != r.attrs.end() && o->second.type == Value::Type::Ref)
      row(o->second.ref, "", 9);
    return out;
  }

  std::vector<Record> linked(const EntityMeta& m, const Record& r, const FLink& l) {
    if (l.meta->name == "activityparty") {
      if (m.primary_id != "activityid") return {};
      return parties(r);
    }
    auto it = r.attrs.find(l.to);
    Key k = record_key(it == r.attrs.end() ? nullptr : &it->second);
    if (it != r.attrs.end() && it->second.type == Value::Type::Guid) k.t = it->second.s;
    if (k.null) return {};
    if (l.from == l.meta->primary_id) {
      if (auto rec = store.get(l.meta->name, k.t)) return {std::move(*rec)};
      return {};
    }
    auto& idx = index[{l.meta->name, l.from}];
    if (idx.empty()) {
      idx[""];  // built (even when empty)
      for (auto& rec : store.all(l.meta->name)) {
        auto f = rec.attrs.find(l.from);
        Key fk = record_key(f == rec.attrs.end() ? nullptr : &f->second);
        if (!fk.null && !fk.num) idx[fk.t].push_back(std::move(rec));
      }
    }
    auto found = idx.find(k.t);
    return found == idx.end() ? std::vector<Record>{} : found->second;
  }

  bool link_holds(const EntityMeta& m, const Record& r, const FLink& l) {
    if (l.outer) return true;
    for (const auto& row : linked(m, r, l))
      if (row_matches(*l.meta, row, l)) return true;
    return false;
  }

  bool row_matches(const EntityMeta& m, const Record& row, const FLink& l) {
    if (!filter(m, row, l.filter)) return false;
    for (const auto& sub : l.links)
      if (!link_holds(m, row, sub)) return false;
    return true;
  }

  // A condition on an aliased link-entity: true when one of the linked rows satisfies it (for
  // "null", also when there is none: an outer join's NULL row).
  bool aliased(const EntityMeta& m, const Record& r, const FCond& c) {
    const FLink* l = aliases.at(c.entityname);
    auto rows = linked(m, r, *l);
    if (rows.empty()) return c.op == "null" && cond(*l->meta, Record{}, c);
    for (const auto& row : rows)
      if (cond(*l->meta, row, c)) return true;
    return false;
  }

  bool filter(const EntityMeta& m, const Record& r, const FFilter& f) {
    if (f.conds.empty() && f.subs.empty()) return true;
    for (const auto& c : f.conds) {
      bool hit = c.entityname.empty() ? cond(m, r, c) : aliased(m, r, c);
      if (f.is_or && hit) return true;
      if (!f.is_or && !hit) return false;
    }
    for (const auto& s : f.subs) {
      bool hit = filter(m, r, s);
      if (f.is_or && hit) return true;
      if (!f.is_or && !hit) return false;
    }
    return !f.is_or;
  }
};

void collect_aliases(const std::vector<FLink>& links, std::map<std::string, const FLink*>& out) {
  for (const auto& l : links) {
    if (!l.alias.empty()) out[l.alias] = &l;
    collect_aliases(l.links, out);
  }
}

// Texts one of which a record's stored attributes must contain to match (guids of eq-userid,
// eq/in on lookups), so that the others need not be parsed; nullopt when nothing is required.
std::optional<std::vector<std::string>> required(const EntityMeta& m, const FFilter& f,
                                                 const FetchContext& ctx) {
  std::vector<std::optional<std::vector<std::string>>> parts;
  for (const auto& c : f.conds) {
    std::optional<std::vector<std::string>> p;
    if (c.entityname.empty() && (c.op == "eq-userid" || c.op == "eq-businessid")) {
      p = std::vector<std::string>{c.op == "eq-userid" ? ctx.user_id : ctx.business_unit_id};
    } else if (c.entityname.empty() && (c.op == "eq" || c.op == "in") && m.attrs.count(c.attr) &&
               (m.attrs.at(c.attr).type == AttrType::Lookup ||
                m.attrs.at(c.attr).type == AttrType::Guid)) {
      std::vector<std::string> ids;
      for (const auto& v : c.values) ids.push_back(normalize_guid(v));
      if (std::find(ids.begin(), ids.end(), std::string()) == ids.end()) p = ids;
    }
    parts.push_back(p);
  }
  for (const auto& s : f.subs) parts.push_back(required(m, s, ctx));
  if (parts.empty()) return std::nullopt;
  if (!f.is_or) {
    for (auto& p : parts)
      if (p) return p;
    return std::nullopt;
  }
  std::vector<std::string> any;
  for (auto& p : parts) {
    if (!p) return std::nullopt;
    any.insert(any.end(), p->begin(), p->end());
  }
  return any;
}

std::string braced_upper(const std::string& g) {
  std::string s = "{" + g + "}";
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void check_fetchxml(const std::string& fetchxml) {
  Parser().parse(fetchxml);
}

bool visible_to(const Record& r, const std::string& user_id) {
  if (r.entity != "userquery") return true;
  auto o = r.attrs.find("ownerid");
  return o != r.attrs.end() && o->second.type == Value::Type::Ref && o->second.ref.id == user_id;
}

FetchPage run_fetch(Store& store, const std::string& fetchxml, const FetchContext& ctx) {
  Parser parser;
  FQuery q = parser.parse(fetchxml);
  const EntityMeta& m = *q.meta;
  Evaluator ev{store, ctx, ctx.now ? ctx.now : now_unix(), {}, {}};
  collect_aliases(q.links, ev.aliases);
  // Candidates: the filter's required texts, else an inner activityparty link's (the party's
  // id is in the activity's stored party lists).
  auto need = required(m, q.filter, ctx);
  for (const auto& l : q.links)
    if (!need && !l.outer && l.meta->name == "activityparty")
      need = required(*l.meta, l.filter, ctx);
  std::vector<Record> rows;
  for (auto& r : store.all(m.name, need)) {
    if (!visible_to(r, ctx.user_id) || !ev.filter(m, r, q.filter)) continue;
    bool links_ok = true;
    for (const auto& l : q.links) links_ok = links_ok && ev.link_holds(m, r, l);
    if (links_ok) rows.push_back(std::move(r));
  }
  // Order: the orders, then the primary key (as Dataverse pages by it).
  std::vector<std::vector<Key>> keys(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (const auto& o : q.orders) {
      auto it = rows[i].attrs.find(o.attr);
      keys[i].push_back(record_key(it == rows[i].attrs.end() ? nullptr : &it->second));
    }
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    for (std::size_t j = 0; j < q.orders.size(); ++j) {
      const Key& x = keys[a][j];
      const Key& y = keys[b][j];
      int c = x.null != y.null ? (x.null ? -1 : 1) : (x.null ? 0 : compare(x, y));
      if (c != 0) return q.orders[j].desc ? c > 0 : c < 0;
    }
    return rows[a].id < rows[b].id;
  });
  FetchPage out;
  out.entity = m.name;
  out.all_attributes = q.all;
  out.columns = q.cols;
  std::size_t total = order.size();
  if (q.top > 0) total = std::min<std::size_t>(total, static_cast<std::size_t>(q.top));
  std::size_t count = q.top > 0 ? total : static_cast<std::size_t>(q.count);
  std::size_t first = q.top > 0 ? 0 : static_cast<std::size_t>(q.page - 1) * count;
  // A paging cookie names the previous page's last record: the page starts after it (records
  // made or removed meanwhile do not shift it), or at the page number's offset without one.
  if (q.top == 0 && !q.cookie.empty() && q.page > 1) {
    tinyxml2::XMLDocument cdoc;
    if (q.cookie.find("<!") != std::string::npos ||
        cdoc.Parse(q.cookie.data(), q.cookie.size()) != tinyxml2::XML_SUCCESS ||
        !cdoc.RootElement() || std::string_view(cdoc.RootElement()->Name()) != "cookie")
      throw Fault(err::kInvalidArgument, "Invalid paging cookie.");
    const XMLElement* key = cdoc.RootElement()->FirstChildElement(m.primary_id.c_str());
    std::string last = key && key->Attribute("last") ? normalize_guid(key->Attribute("last")) : "";
    if (!last.empty()) {
      std::size_t i = 0;
      while (i < order.size() && rows[order[i]].id != last) ++i;
      if (i < order.size()) first = i + 1;
    }
  }
  std::size_t last = std::min(total, first + count);
  if (first > last) first = last;
  out.more = last < total;
  for (std::size_t i = first; i < last; ++i) out.rows.push_back(rows[order[i]]);
  if (first < last)
    out.cookie = "<cookie page=\"" + std::to_string(q.page) + "\"><" + m.primary_id + " last=\"" +
                 braced_upper(rows[order[last - 1]].id) + "\" first=\"" +
                 braced_upper(rows[order[first]].id) + "\" /></cookie>";
  if (q.total) out.total = static_cast<std::int64_t>(total);
  return out;
}

// ------------------------------------------------------------------ userquery, savedquery

void add_query_entities(std::map<std::string, EntityMeta>& m) {
  using T = AttrType;
  auto common = [](EntityMeta& e) {
    for (const auto& [n, meta] : std::initializer_list<std::pair<const char*, AttrMeta>>{
             {"name", {T::String, 200}},
             {"description", {T::Memo, 2000}},
             {"returnedtypecode", {T::String, 64}},  // EntityName: a logical name on the wire
             {"querytype", {T::Int}},
             {"fetchxml", {T::Memo, 1048576}},
             {"layoutxml", {T::Memo, 1048576}},
             {"columnsetxml", {T::Memo, 1048576}},
             {"createdon", {T::DateTime, 0, true}},
             {"modifiedon", {T::DateTime, 0, true}},
             {"createdby", {T::Lookup, 0, true}},
             {"modifiedby", {T::Lookup, 0, true}},
             {"statecode", {T::OptionSet}},
             {"statuscode", {T::OptionSet}}})
      e.attrs[n] = meta;
    e.attrs[e.primary_id] = AttrMeta{T::Guid};
  };
  // Personal views and filters: user-owned; 0 Active (1), 1 Inactive (2).
  EntityMeta uq{"userquery", "userqueryid", "name", {}, {{0, {1}}, {1, {2}}}, true};
  common(uq);
  uq.attrs["ownerid"] = AttrMeta{T::Lookup};
  uq.attrs["parentqueryid"] = AttrMeta{T::Lookup};
  m[uq.name] = uq;
  // System views and filter templates: organization-owned.
  EntityMeta sq{"savedquery", "savedqueryid", "name", {}, {{0, {1}}, {1, {2}}}, false};
  common(sq);
  sq.attrs["isdefault"] = AttrMeta{T::Bool};
  sq.attrs["isquickfindquery"] = AttrMeta{T::Bool};
  m[sq.name] = sq;
}

void check_query_record(const std::string& entity, const Attributes& attrs) {
  if (entity != "userquery" && entity != "savedquery") return;
  std::string returned;
  if (auto it = attrs.find("returnedtypecode"); it != attrs.end() && !it->second.is_null()) {
    returned = it->second.s;
    const EntityMeta* m = find_entity(returned);
    if (!m || returned == "activityparty")
      throw Fault(err::kEntityNotFound, "The entity with a name = '" + returned +
                                            "' was not found in the MetadataCache.");
  }
  if (auto it = attrs.find("fetchxml"); it != attrs.end() && !it->second.is_null()) {
    Parser p;
    FQuery q = p.parse(it->second.s);
    if (!returned.empty() && q.meta->name != returned)
      throw Fault(err::kInvalidArgument, "The fetchxml queries '" + q.meta->name +
                                             "' but the returnedtypecode is '" + returned + "'.");
  }
}

std::string insert_query(Store& store, const std::string& entity, Attributes attrs,
                         const std::string& owner_id) {
  const EntityMeta& m = entity_meta(entity);
  for (const char* required : {"name", "returnedtypecode", "fetchxml", "querytype"})
    if (!attrs.count(required) || attrs[required].is_null())
      throw Fault(err::kInvalidArgument,
                  "Required field '" + std::string(required) + "' is missing for " + entity + ".");
  for (const auto& [k, v] : attrs) {
    need_attribute(m, k);
    if (v.type == Value::Type::String && m.attrs.at(k).max_length > 0 &&
        v.s.size() > static_cast<std::size_t>(m.attrs.at(k).max_length))
      throw Fault(err::kStringLength, "A validation error occurred. The length of the '" + k +
                                          "' attribute of the '" + entity +
                                          "' entity exceeded the maximum allowed length of '" +
                                          std::to_string(m.attrs.at(k).max_length) + "'.");
  }
  check_query_record(entity, attrs);
  std::string id = new_guid();
  auto now = now_iso();
  int state = attrs.count("statecode") ? static_cast<int>(attrs["statecode"].i) : 0;
  if (state != 0 && state != 1)
    throw Fault(err::kInvalidStateStatus,
                std::to_string(state) + " is not a valid state code on " + entity + ".");
  attrs["statecode"] = Value::option(state);
  attrs["statuscode"] = Value::option(state == 0 ? 1 : 2);
  attrs[m.primary_id] = Value::guid(id);
  attrs["createdon"] = Value::datetime(now);
  attrs["modifiedon"] = Value::datetime(now);
  if (!owner_id.empty()) {
    if (m.has_owner) attrs["ownerid"] = Value::reference("systemuser", owner_id);
    attrs["createdby"] = Value::reference("systemuser", owner_id);
    attrs["modifiedby"] = Value::reference("systemuser", owner_id);
  }
  Record rec{entity, id, std::move(attrs)};
  store.insert(rec);
  return id;
}

namespace {

// The default Outlook filter templates. Names and FetchXML are the emulator's (assumed, after
// the Outlook client's defaults "My Contacts" and the activities it synchronizes; SPEC R2):
// contacts the user owns; each activity type the user owns or is a party to.
struct Template {
  const char* name;
  const char* entity;
  const char* description;
};
constexpr Template kTemplates[] = {
    {"My Contacts", "contact", "Contacts owned by me"},
    {"My Tasks", "task", "Tasks I own or take part in"},
    {"My Appointments", "appointment", "Appointments I own or attend"},
    {"My Phone Calls", "phonecall", "Phone calls I own or take part in"},
    {"My Letters", "letter", "Letters I own or take part in"},
    {"My Faxes", "fax", "Faxes I own or take part in"},
};

std::string template_fetch(const Template& t) {
  std::string e = t.entity;
  const EntityMeta& m = entity_meta(e);
  std::string head =
      "<fetch version=\"1.0\" output-format=\"xml-platform\" mapping=\"logical\" "
      "distinct=\"true\"><entity name=\"" +
      e + "\"><attribute name=\"" + m.primary_id + "\" />";
  if (e == "contact")
    return head +
           "<filter type=\"and\"><condition attribute=\"ownerid\" operator=\"eq-userid\" />"
           "</filter></entity></fetch>";
  return head +
         "<filter type=\"or\"><condition attribute=\"ownerid\" operator=\"eq-userid\" />"
         "<condition entityname=\"party\" attribute=\"partyid\" operator=\"eq-userid\" />"
         "</filter><link-entity name=\"activityparty\" from=\"activityid\" to=\"activityid\" "
         "link-type=\"outer\" alias=\"party\" /></entity></fetch>";
}

}  // namespace

int seed_outlook_templates(Store& store) {
  for (const auto& r : store.all("savedquery")) {
    auto qt = r.attrs.find("querytype");
    if (qt != r.attrs.end() && qt->second.i == querytype::kOutlookTemplate) return 0;
  }
  int made = 0;
  for (const auto& t : kTemplates) {
    Attributes a{{"name", Value::str(t.name)},
                 {"description", Value::str(t.description)},
                 {"returnedtypecode", Value::str(t.entity)},
                 {"querytype", Value::integer(querytype::kOutlookTemplate)},
                 {"fetchxml", Value::str(template_fetch(t))},
                 {"isdefault", Value::boolean(true)}};
    insert_query(store, "savedquery", std::move(a), "");
    ++made;
  }
  return made;
}

std::vector<std::string> create_default_filters(Store& store, const std::string& user_id) {
  std::vector<std::string> ids;
  for (const auto& r : store.all("savedquery")) {
    auto get = [&](const char* k) -> const Value* {
      auto it = r.attrs.find(k);
      return it == r.attrs.end() ? nullptr : &it->second;
    };
    const Value* qt = get("querytype");
    const Value* st = get("statecode");
    if (!qt || qt->i != querytype::kOutlookTemplate || (st && st->i != 0)) continue;
    Attributes a{{"name", *get("name")},
                 {"returnedtypecode", *get("returnedtypecode")},
                 {"querytype", Value::integer(querytype::kOutlookFilters)},
                 {"fetchxml", *get("fetchxml")},
                 {"parentqueryid", Value::reference("savedquery", r.id)}};
    if (const Value* d = get("description")) a["description"] = *d;
    ids.push_back(insert_query(store, "userquery", std::move(a), user_id));
  }
  return ids;
}

}  // namespace crm_emulator
