#include "service.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <memory>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <tinyxml2.h>

#include "caller.hpp"
#include "fetchxml.hpp"
#include "xml.hpp"

namespace crm_emulator {

using tinyxml2::XMLElement;
using xml::child;
using xml::child_text;
using xml::escape;
using xml::local_name;

namespace {

constexpr int kMaxPage = 5000;
constexpr int kMaxBatch = 1000;

// Privileges known to the organization: name and fixed id.
struct PrivilegeDef {
  const char* name;
  const char* id;
};
constexpr PrivilegeDef kPrivileges[] = {
    {"prvSyncToOutlook", kPrivSyncToOutlookId},
    {"prvReadContact", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900001"},
    {"prvWriteContact", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900002"},
    {"prvCreateContact", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900003"},
    {"prvDeleteContact", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900004"},
    {"prvReadActivity", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900005"},
    {"prvWriteActivity", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900006"},
    {"prvCreateActivity", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900007"},
    {"prvDeleteActivity", "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900008"},
    {"prvActOnBehalfOfAnotherUser", kPrivActOnBehalfId},
};

[[noreturn]] void fail(int code, std::string msg) {
  throw Fault(code, std::move(msg));
}

const EntityMeta& entity_or_fault(const std::string& name) {
  const EntityMeta* m = find_entity(name);
  if (!m || name == "activityparty")
    fail(err::kEntityNotFound,
         "The entity with a name = '" + name + "' was not found in the MetadataCache.");
  return *m;
}

[[noreturn]] void not_found(const std::string& entity, const std::string& id) {
  fail(err::kObjectDoesNotExist, entity + " With Id = " + id + " Does Not Exist");
}

std::string required_guid(const std::string& text, const char* what) {
  auto g = normalize_guid(text);
  if (g.empty())
    fail(err::kDeserialization, std::string("Invalid guid for ") + what + ": '" + text + "'");
  return g;
}

// ---------------------------------------------------------------- parsing

Value parse_value(const XMLElement* v);

EntityRef parse_ref(const XMLElement* v) {
  EntityRef r;
  r.id = required_guid(child_text(v, "Id"), "EntityReference.Id");
  r.logical = child_text(v, "LogicalName");
  if (auto* n = child(v, "Name"); n && !xml::is_nil(n)) r.name = xml::text(n);
  return r;
}

Record parse_entity(const XMLElement* e) {
  Record rec;
  rec.entity = child_text(e, "LogicalName");
  if (auto* id = child(e, "Id"); id && !xml::is_nil(id) && !xml::text(id).empty())
    rec.id = required_guid(xml::text(id), "Entity.Id");
  if (rec.id == kNullGuid) rec.id.clear();
  if (auto* attrs = child(e, "Attributes")) {
    for (auto* kv = attrs->FirstChildElement(); kv; kv = kv->NextSiblingElement()) {
      std::string key = child_text(kv, "key");
      auto* val = child(kv, "value");
      if (key.empty()) fail(err::kDeserialization, "Attribute without a key");
      rec.attrs[key] = val ? parse_value(val) : Value{};
    }
  }
  return rec;
}

std::int64_t parse_int(const std::string& s, const char* what) {
  try {
    std::size_t n = 0;
    auto v = std::stoll(s, &n);
    if (n != s.size()) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    fail(err::kDeserialization, std::string("Invalid ") + what + " value '" + s + "'");
  }
}

Value parse_value(const XMLElement* v) {
  if (xml::is_nil(v)) return Value{};
  auto t = xml::xsi_type(v);
  std::string txt = xml::text(v);
  Value out;
  const std::string& l = t.local;
  if (t.ns == xml::kXsd ||
      (t.ns.empty() && !l.empty() && std::islower(static_cast<unsigned char>(l[0])))) {
    if (l == "string") return Value::str(txt);
    if (l == "int" || l == "short") return Value::integer(parse_int(txt, "int"));
    if (l == "long") {
      out.type = Value::Type::Long;
      out.i = parse_int(txt, "long");
      return out;
    }
    if (l == "boolean") {
      if (txt == "true" || txt == "1") return Value::boolean(true);
      if (txt == "false" || txt == "0") return Value::boolean(false);
      fail(err::kDeserialization, "Invalid boolean value '" + txt + "'");
    }
    if (l == "dateTime") {
      auto iso = normalize_datetime(txt);
      if (iso.empty()) fail(err::kDeserialization, "Invalid dateTime value '" + txt + "'");
      return Value::datetime(iso);
    }
    if (l == "decimal" || l == "double" || l == "float") {
      try {
        (void)std::stod(txt);
      } catch (const std::exception&) {
        fail(err::kDeserialization, "Invalid number '" + txt + "'");
      }
      out.type = l == "decimal" ? Value::Type::Decimal : Value::Type::Double;
      out.s = txt;
      return out;
    }
  }
  if (l == "guid" && (t.ns == xml::kSer || t.ns.empty()))
    return Value::guid(required_guid(txt, "guid"));
  if (t.ns == xml::kXrm || t.ns.empty()) {
    if (l == "EntityReference") {
      out.type = Value::Type::Ref;
      out.ref = parse_ref(v);
      return out;
    }
    if (l == "OptionSetValue")
      return Value::option(parse_int(child_text(v, "Value"), "OptionSetValue"));
    if (l == "Money") {
      out.type = Value::Type::Money;
      out.s = child_text(v, "Value");
      try {
        (void)std::stod(out.s);
      } catch (const std::exception&) {
        fail(err::kDeserialization, "Invalid Money value '" + out.s + "'");
      }
      return out;
    }
    if (l == "EntityCollection") {
      out.type = Value::Type::Parties;
      if (auto* ents = child(v, "Entities")) {
        for (auto* e = ents->FirstChildElement(); e; e = e->NextSiblingElement()) {
          Record pr = parse_entity(e);
          if (!pr.entity.empty() && pr.entity != "activityparty")
            fail(err::kInvalidArgument,
                 "A party list may only hold activityparty entities, not '" + pr.entity + "'.");
          Party p;
          for (auto& [k, pv] : pr.attrs) {
            if (k == "partyid" && pv.type == Value::Type::Ref)
              p.partyid = pv.ref;
            else if (k == "addressused" && pv.type == Value::Type::String)
              p.addressused = pv.s;
            else if (k == "participationtypemask" || k == "activitypartyid" || k == "activityid")
              continue;
            else if (!pv.is_null())
              fail(err::kAttributeNotFound,
                   "'activityparty' entity doesn't contain attribute with Name = '" + k + "'.");
          }
          out.parties.push_back(std::move(p));
        }
      }
      return out;
    }
  }
  if (l.empty()) return Value::str(txt);  // untyped: a string, as WCF reads it
  fail(err::kDeserialization, "Unsupported value type '" + l + "' (namespace '" + t.ns + "')");
}

struct ColumnSet {
  bool all = false;
  std::vector<std::string> columns;
};

ColumnSet parse_columns(const XMLElement* cs) {
  ColumnSet c;
  if (!cs || xml::is_nil(cs)) return c;
  c.all = child_text(cs, "AllColumns") == "true";
  if (auto* cols = child(cs, "Columns"))
    for (auto* s = cols->FirstChildElement(); s; s = s->NextSiblingElement())
      c.columns.push_back(xml::text(s));
  return c;
}

struct Condition {
  std::string attr;
  std::string op;
  std::vector<Value> values;
};

struct Filter {
  bool is_or = false;
  std::vector<Condition> conditions;
  std::vector<Filter> filters;
};

Filter parse_filter(const XMLElement* f, int depth = 0) {
  Filter out;
  if (!f || xml::is_nil(f)) return out;
  if (depth > 50) fail(err::kInvalidArgument, "Filter nesting is too deep.");
  out.is_or = child_text(f, "FilterOperator") == "Or";
  if (auto* conds = child(f, "Conditions")) {
    for (auto* c = conds->FirstChildElement(); c; c = c->NextSiblingElement()) {
      Condition cond{child_text(c, "AttributeName"), child_text(c, "Operator"), {}};
      if (auto* vals = child(c, "Values"))
        for (auto* v = vals->FirstChildElement(); v; v = v->NextSiblingElement())
          cond.values.push_back(parse_value(v));
      out.conditions.push_back(std::move(cond));
    }
  }
  if (auto* subs = child(f, "Filters"))
    for (auto* s = subs->FirstChildElement(); s; s = s->NextSiblingElement())
      out.filters.push_back(parse_filter(s, depth + 1));
  return out;
}

struct Order {
  std::string attr;
  bool descending = false;
};

struct Paging {
  int count = 0;
  int page = 1;
  std::string cookie;
  bool total = false;
};

Paging parse_paging(const XMLElement* p) {
  Paging out;
  if (!p || xml::is_nil(p)) {
    out.count = kMaxPage;
    return out;
  }
  auto c = child_text(p, "Count");
  auto n = child_text(p, "PageNumber");
  if (!c.empty()) out.count = static_cast<int>(parse_int(c, "Count"));
  if (!n.empty()) out.page = static_cast<int>(parse_int(n, "PageNumber"));
  if (auto* ck = child(p, "PagingCookie"); ck && !xml::is_nil(ck)) out.cookie = xml::text(ck);
  out.total = child_text(p, "ReturnTotalRecordCount") == "true";
  if (out.count <= 0) out.count = kMaxPage;
  if (out.count > kMaxPage) out.count = kMaxPage;
  if (out.page <= 0) out.page = 1;
  return out;
}

struct Query {
  std::string entity;
  ColumnSet columns;
  Filter criteria;
  std::vector<Order> orders;
  Paging paging;
  int top = 0;
};

Query parse_query(const XMLElement* q) {
  auto t = xml::xsi_type(q);
  if (!t.local.empty() && t.local != "QueryExpression")
    fail(err::kInvalidArgument,
         "Only QueryExpression is supported by the emulator, not " + t.local);
  Query out;
  out.entity = child_text(q, "EntityName");
  out.columns = parse_columns(child(q, "ColumnSet"));
  out.criteria = parse_filter(child(q, "Criteria"));
  if (auto* os = child(q, "Orders"))
    for (auto* o = os->FirstChildElement(); o; o = o->NextSiblingElement())
      out.orders.push_back(
          {child_text(o, "AttributeName"), child_text(o, "OrderType") == "Descending"});
  out.paging = parse_paging(child(q, "PageInfo"));
  if (auto* tc = child(q, "TopCount"); tc && !xml::is_nil(tc) && !xml::text(tc).empty())
    out.top = static_cast<int>(parse_int(xml::text(tc), "TopCount"));
  return out;
}

// Parameters of an OrganizationRequest: key -> value element.
std::map<std::string, const XMLElement*> parameters(const XMLElement* req) {
  std::map<std::string, const XMLElement*> out;
  if (auto* ps = child(req, "Parameters"))
    for (auto* kv = ps->FirstChildElement(); kv; kv = kv->NextSiblingElement())
      out[child_text(kv, "key")] = child(kv, "value");
  return out;
}

const XMLElement* param(const std::map<std::string, const XMLElement*>& ps, const std::string& k,
                        bool required = true) {
  auto it = ps.find(k);
  if (it == ps.end() || !it->second) {
    if (required) fail(err::kInvalidArgument, "Required field '" + k + "' is missing");
    return nullptr;
  }
  return it->second;
}

// ---------------------------------------------------------------- writing

const char* kEntityCollectionTail = "<a:MinActiveRowVersion i:nil=\"true\"/>";

void write_entity_members(std::string& out, const Record& rec, bool v8_members);

void write_ref_members(std::string& out, const EntityRef& r) {
  out += "<a:Id>" + (r.id.empty() ? std::string(kNullGuid) : r.id) + "</a:Id><a:LogicalName>" +
         escape(r.logical) + "</a:LogicalName>";
  if (r.name.empty())
    out += "<a:Name i:nil=\"true\"/>";
  else
    out += "<a:Name>" + escape(r.name) + "</a:Name>";
}

// tag is e.g. "b:value"; prefixes a, b, i are in scope.
void write_value(std::string& out, const std::string& tag, const Value& v) {
  auto prim = [&](const char* type, const std::string& text) {
    out += "<" + tag + " i:type=\"d:" + type + "\" xmlns:d=\"" + xml::kXsd + "\">" + escape(text) +
           "</" + tag + ">";
  };
  switch (v.type) {
    case Value::Type::Null:
      out += "<" + tag + " i:nil=\"true\"/>";
      return;
    case Value::Type::String:
      prim("string", v.s);
      return;
    case Value::Type::Int:
      prim("int", std::to_string(v.i));
      return;
    case Value::Type::Long:
      prim("long", std::to_string(v.i));
      return;
    case Value::Type::Bool:
      prim("boolean", v.i ? "true" : "false");
      return;
    case Value::Type::DateTime:
      prim("dateTime", v.s);
      return;
    case Value::Type::Decimal:
      prim("decimal", v.s);
      return;
    case Value::Type::Double:
      prim("double", v.s);
      return;
    case Value::Type::Guid:
      out +=
          "<" + tag + " i:type=\"e:guid\" xmlns:e=\"" + xml::kSer + "\">" + v.s + "</" + tag + ">";
      return;
    case Value::Type::Ref:
      out += "<" + tag + " i:type=\"a:EntityReference\">";
      write_ref_members(out, v.ref);
      out += "</" + tag + ">";
      return;
    case Value::Type::OptionSet:
      out += "<" + tag + " i:type=\"a:OptionSetValue\"><a:Value>" + std::to_string(v.i) +
             "</a:Value></" + tag + ">";
      return;
    case Value::Type::Money: {
      double d = std::stod(v.s);
      out += "<" + tag + " i:type=\"a:Money\"><a:Value>" + fmt::format("{:.4f}", d) +
             "</a:Value></" + tag + ">";
      return;
    }
    case Value::Type::Parties: {
      out += "<" + tag + " i:type=\"a:EntityCollection\"><a:Entities>";
      for (const auto& p : v.parties) {
        Record pr;
        pr.entity = "activityparty";
        pr.id = kNullGuid;
        if (p.partyid)
          pr.attrs["partyid"] =
              Value::reference(p.partyid->logical, p.partyid->id, p.partyid->name);
        if (!p.addressused.empty()) pr.attrs["addressused"] = Value::str(p.addressused);
        pr.attrs["participationtypemask"] = Value::option(p.participationtypemask);
        out += "<a:Entity>";
        write_entity_members(out, pr, false);
        out += "</a:Entity>";
      }
      out += "</a:Entities><a:EntityName>activityparty</a:EntityName>";
      out += kEntityCollectionTail;
      out +=
          "<a:MoreRecords>false</a:MoreRecords><a:PagingCookie i:nil=\"true\"/>"
          "<a:TotalRecordCount>-1</a:TotalRecordCount>"
          "<a:TotalRecordCountLimitExceeded>false</a:TotalRecordCountLimitExceeded></" +
          tag + ">";
      return;
    }
  }
}

void write_pair(std::string& out, const std::string& key, const Value& v) {
  out += "<a:KeyValuePairOfstringanyType><b:key>" + escape(key) + "</b:key>";
  write_value(out, "b:value", v);
  out += "</a:KeyValuePairOfstringanyType>";
}

// Entity members in DataContract order. v8_members adds KeyAttributes/RowVersion, as
// Dynamics 2016 and later send them with every record (the RowVersion is what an update
// with ConcurrencyBehavior IfRowVersionMatches must name); party entities go without.
void write_entity_members(std::string& out, const Record& rec, bool v8_members) {
  out += "<a:Attributes>";
  for (const auto& [k, v] : rec.attrs)
    if (!v.is_null()) write_pair(out, k, v);
  out += "</a:Attributes><a:EntityState i:nil=\"true\"/><a:FormattedValues/><a:Id>" + rec.id +
         "</a:Id>";
  if (v8_members) out += "<a:KeyAttributes/>";
  out += "<a:LogicalName>" + escape(rec.entity) + "</a:LogicalName><a:RelatedEntities/>";
  if (v8_members) out += "<a:RowVersion>" + std::to_string(rec.version) + "</a:RowVersion>";
}

std::string envelope(const std::string& body) {
  return std::string("<s:Envelope xmlns:s=\"") + xml::kSoap + "\"><s:Body>" + body +
         "</s:Body></s:Envelope>";
}

// Namespace declarations every result element carries.
std::string result_ns() {
  return std::string(" xmlns:a=\"") + xml::kXrm + "\" xmlns:i=\"" + xml::kXsi + "\" xmlns:b=\"" +
         xml::kGeneric + "\"";
}

struct Response {
  std::string name;     // "Create"
  bool crm_ns = false;  // type lives in crm/2011/Contracts
  std::string results;  // KeyValuePairOfstringanyType elements
};

void write_response_body(std::string& out, const std::string& tag, const Response& r,
                         bool declare_ns) {
  out += "<" + tag;
  if (declare_ns) out += result_ns();
  if (r.crm_ns)
    out += std::string(" xmlns:r=\"") + xml::kCrm + "\" i:type=\"r:" + r.name + "Response\">";
  else
    out += " i:type=\"a:" + r.name + "Response\">";
  out += "<a:ResponseName>" + r.name + "</a:ResponseName><a:Results>" + r.results +
         "</a:Results></" + tag + ">";
}

std::string fault_members(const Fault& f, const std::string& p) {
  std::string out = "<" + p + "ErrorCode>" + std::to_string(f.code) + "</" + p + "ErrorCode>";
  if (f.retry_after_s > 0)
    out += "<" + p + "ErrorDetails xmlns:g=\"" + xml::kGeneric + "\"><" + p +
           "KeyValuePairOfstringanyType><g:key>Retry-After</g:key><g:value "
           "i:type=\"e:duration\" xmlns:e=\"" +
           xml::kSer + "\">PT" + std::to_string(f.retry_after_s) + "S</g:value></" + p +
           "KeyValuePairOfstringanyType></" + p + "ErrorDetails>";
  else
    out += "<" + p + "ErrorDetails xmlns:g=\"" + xml::kGeneric + "\"/>";
  out += "<" + p + "Message>" + escape(f.what()) + "</" + p + "Message><" + p + "Timestamp>" +
         now_iso_fraction() + "</" + p + "Timestamp><" + p + "InnerFault i:nil=\"true\"/><" + p +
         "TraceText i:nil=\"true\"/>";
  return out;
}

// ---------------------------------------------------------------- query evaluation

struct Key {
  bool null = true;
  bool numeric = false;
  double n = 0;
  std::string t;
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Key key_of(const Value& v) {
  Key k;
  switch (v.type) {
    case Value::Type::Null:
      return k;
    case Value::Type::Int:
    case Value::Type::Long:
    case Value::Type::OptionSet:
    case Value::Type::Bool:
      k.numeric = true;
      k.n = static_cast<double>(v.i);
      break;
    case Value::Type::Money:
    case Value::Type::Decimal:
    case Value::Type::Double:
      k.numeric = true;
      k.n = std::stod(v.s);
      break;
    case Value::Type::Ref:
      k.t = v.ref.id;
      break;
    case Value::Type::Parties:
      k.t = "";
      break;
    case Value::Type::String:
      k.t = lower(v.s);
      break;
    default:
      k.t = v.s;
      break;
  }
  k.null = false;
  return k;
}

// A condition value read as the attribute's type.
Key cond_key(const Value& v, AttrType type) {
  if (v.is_null()) return {};
  Key k;
  k.null = false;
  std::string text = v.s;
  if (v.type == Value::Type::Ref) text = v.ref.id;
  switch (type) {
    case AttrType::Int:
    case AttrType::OptionSet:
    case AttrType::Bool:
    case AttrType::Money:
    case AttrType::Decimal:
    case AttrType::Double:
      k.numeric = true;
      if (v.type == Value::Type::Int || v.type == Value::Type::Long ||
          v.type == Value::Type::OptionSet || v.type == Value::Type::Bool)
        k.n = static_cast<double>(v.i);
      else {
        if (text == "true") text = "1";
        if (text == "false") text = "0";
        try {
          k.n = std::stod(text);
        } catch (const std::exception&) {
          fail(err::kInvalidArgument, "Condition value '" + text + "' is not a number");
        }
      }
      return k;
    case AttrType::DateTime:
      k.t = normalize_datetime(text);
      if (k.t.empty())
        fail(err::kInvalidArgument, "Condition value '" + text + "' is not a dateTime");
      return k;
    case AttrType::Guid:
    case AttrType::Lookup:
      k.t = normalize_guid(text);
      if (k.t.empty()) fail(err::kInvalidArgument, "Condition value '" + text + "' is not a guid");
      return k;
    default:
      k.t = lower(v.type == Value::Type::String ? v.s : text);
      if (v.type == Value::Type::Int) k.t = std::to_string(v.i);
      return k;
  }
}

int compare(const Key& a, const Key& b) {
  if (a.numeric && b.numeric) return a.n < b.n ? -1 : (a.n > b.n ? 1 : 0);
  return a.t < b.t ? -1 : (a.t > b.t ? 1 : 0);
}

bool like(std::string_view s, std::string_view p) {
  // SQL LIKE with % and _, case-insensitive (inputs already lower-cased).
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

struct Evaluator {
  const EntityMeta& meta;
  const User& caller;

  const Value* get(const Record& r, const std::string& a) const {
    auto it = r.attrs.find(a);
    return it == r.attrs.end() ? nullptr : &it->second;
  }

  bool match(const Record& r, const Condition& c) const {
    auto am = meta.attrs.find(c.attr);
    if (am == meta.attrs.end())
      fail(err::kAttributeNotFound,
           "'" + meta.name + "' entity doesn't contain attribute with Name = '" + c.attr + "'.");
    const Value* v = get(r, c.attr);
    Key k = v ? key_of(*v) : Key{};
    const std::string& op = c.op;
    if (op == "Null") return k.null;
    if (op == "NotNull") return !k.null;
    if (op == "EqualUserId" || op == "NotEqualUserId") {
      bool eq = !k.null && k.t == caller.id;
      return op == "EqualUserId" ? eq : (!k.null && !eq);
    }
    if (k.null) return false;
    auto need = [&](std::size_t n) {
      if (c.values.size() < n)
        fail(err::kInvalidArgument,
             "Condition operator '" + op + "' on '" + c.attr + "' needs a value");
    };
    if (op == "In" || op == "NotIn") {
      need(1);
      bool any = false;
      for (const auto& cv : c.values) any = any || compare(k, cond_key(cv, am->second.type)) == 0;
      return op == "In" ? any : !any;
    }
    need(1);
    Key ck = cond_key(c.values[0], am->second.type);
    if (ck.null) return false;
    if (op == "Equal") return compare(k, ck) == 0;
    if (op == "NotEqual") return compare(k, ck) != 0;
    if (op == "GreaterThan") return compare(k, ck) > 0;
    if (op == "GreaterEqual") return compare(k, ck) >= 0;
    if (op == "LessThan") return compare(k, ck) < 0;
    if (op == "LessEqual") return compare(k, ck) <= 0;
    if (op == "Like") return like(k.t, ck.t);
    if (op == "NotLike") return !like(k.t, ck.t);
    if (op == "BeginsWith") return k.t.rfind(ck.t, 0) == 0;
    if (op == "EndsWith") return k.t.size() >= ck.t.size() && k.t.ends_with(ck.t);
    if (op == "On") return k.t.substr(0, 10) == ck.t.substr(0, 10);
    if (op == "OnOrAfter") return k.t.substr(0, 10) >= ck.t.substr(0, 10);
    if (op == "OnOrBefore") return k.t.substr(0, 10) <= ck.t.substr(0, 10);
    if (op == "Between") {
      need(2);
      return compare(k, ck) >= 0 && compare(k, cond_key(c.values[1], am->second.type)) <= 0;
    }
    fail(err::kInvalidArgument, "The condition operator '" + op + "' is not supported.");
  }

  bool match(const Record& r, const Filter& f) const {
    if (f.conditions.empty() && f.filters.empty()) return true;
    for (const auto& c : f.conditions) {
      bool m = match(r, c);
      if (f.is_or && m) return true;
      if (!f.is_or && !m) return false;
    }
    for (const auto& s : f.filters) {
      bool m = match(r, s);
      if (f.is_or && m) return true;
      if (!f.is_or && !m) return false;
    }
    return !f.is_or;
  }
};

// ---------------------------------------------------------------- the organization

struct Ctx {
  Store& store;
  const User& caller;
  std::unordered_map<std::string, std::string> names;  // id -> display name cache
  std::vector<UpdateHook>* hooks = nullptr;            // waiting update hooks (admin API)

  std::string name_of(const EntityRef& r) {
    auto it = names.find(r.id);
    if (it != names.end()) return it->second;
    std::string n;
    if (const EntityMeta* m = find_entity(r.logical); m && !m->primary_name.empty())
      if (auto rec = store.get(r.logical, r.id)) {
        auto a = rec->attrs.find(m->primary_name);
        if (a != rec->attrs.end()) n = a->second.s;
      }
    names.emplace(r.id, n);
    return n;
  }

  EntityRef caller_ref() { return EntityRef{"systemuser", caller.id, caller.fullname}; }
};

void check_columns(const EntityMeta& m, const ColumnSet& cs) {
  if (cs.all) return;
  for (const auto& c : cs.columns)
    if (!m.attrs.count(c))
      fail(err::kAttributeNotFound,
           "'" + m.name + "' entity doesn't contain attribute with Name = '" + c + "'.");
}

// The record as sent back: requested columns only, lookup names filled in.
Record project(Ctx& ctx, const EntityMeta& m, const Record& r, const ColumnSet& cs) {
  Record out{r.entity, r.id, {}, r.version};
  auto take = [&](const std::string& k, const Value& v) {
    Value c = v;
    if (c.type == Value::Type::Ref && c.ref.name.empty()) c.ref.name = ctx.name_of(c.ref);
    if (c.type == Value::Type::Parties)
      for (auto& p : c.parties)
        if (p.partyid && p.partyid->name.empty()) p.partyid->name = ctx.name_of(*p.partyid);
    out.attrs[k] = std::move(c);
  };
  if (cs.all) {
    for (const auto& [k, v] : r.attrs) take(k, v);
  } else {
    for (const auto& c : cs.columns)
      if (auto it = r.attrs.find(c); it != r.attrs.end()) take(c, it->second);
  }
  if (auto it = r.attrs.find(m.primary_id); it != r.attrs.end())
    out.attrs[m.primary_id] = it->second;
  // versionnumber is the row's version (a BigInt: what RowVersion carries as text), readable
  // like any column; FetchXML results, which carry no RowVersion member, give it this way.
  if (cs.all ||
      std::find(cs.columns.begin(), cs.columns.end(), "versionnumber") != cs.columns.end())
    out.attrs["versionnumber"] = Value{Value::Type::Long, {}, r.version};
  return out;
}

bool type_fits(AttrType t, Value::Type v) {
  using V = Value::Type;
  switch (t) {
    case AttrType::String:
    case AttrType::Memo:
      return v == V::String;
    case AttrType::Int:
      return v == V::Int || v == V::Long;
    case AttrType::Bool:
      return v == V::Bool;
    case AttrType::DateTime:
      return v == V::DateTime;
    case AttrType::Guid:
      return v == V::Guid;
    case AttrType::Lookup:
      return v == V::Ref;
    case AttrType::OptionSet:
      return v == V::OptionSet;
    case AttrType::Money:
      return v == V::Money || v == V::Decimal;
    case AttrType::Decimal:
    case AttrType::Double:
      return v == V::Decimal || v == V::Double || v == V::Int;
    case AttrType::PartyList:
      return v == V::Parties;
  }
  return false;
}

std::size_t utf16_length(const std::string& s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) == 0x80) continue;
    n += (c >= 0xF0) ? 2 : 1;  // astral characters are two UTF-16 units, as in .NET strings
  }
  return n;
}

void check_ref_exists(Ctx& ctx, const EntityRef& r) {
  const EntityMeta* m = find_entity(r.logical);
  if (!m || r.logical == "activityparty") return;  // entities the emulator does not model
  if (!ctx.store.get(r.logical, r.id)) not_found(r.logical, r.id);
}

// Validate and normalize incoming attributes; drops read-only ones.
Attributes validate(Ctx& ctx, const EntityMeta& m, const Attributes& in) {
  Attributes out;
  for (const auto& [k, v0] : in) {
    auto am = m.attrs.find(k);
    if (am == m.attrs.end())
      fail(err::kAttributeNotFound,
           "'" + m.name + "' entity doesn't contain attribute with Name = '" + k + "'.");
    if (am->second.read_only || k == m.primary_id) continue;
    Value v = v0;
    if (!v.is_null() && !type_fits(am->second.type, v.type))
      fail(err::kInvalidArgument,
           "Incorrect type of attribute value for '" + k + "' of '" + m.name + "'.");
    if (v.type == Value::Type::String && am->second.max_length > 0 &&
        utf16_length(v.s) > static_cast<std::size_t>(am->second.max_length))
      fail(err::kStringLength, "A validation error occurred. The length of the '" + k +
                                   "' attribute of the '" + m.name +
                                   "' entity exceeded the maximum allowed length of '" +
                                   std::to_string(am->second.max_length) + "'.");
    if (v.type == Value::Type::Ref) {
      v.ref.name.clear();
      if (k == "ownerid" && v.ref.logical != "systemuser")
        fail(err::kInvalidArgument, "The owner must be a systemuser, not '" + v.ref.logical + "'.");
      check_ref_exists(ctx, v.ref);
    }
    if (v.type == Value::Type::Parties) {
      int mask = participation_mask(k);
      for (auto& p : v.parties) {
        p.participationtypemask = mask;
        if (p.partyid) {
          p.partyid->name.clear();
          check_ref_exists(ctx, *p.partyid);
        }
        if (!p.partyid && p.addressused.empty())
          fail(err::kInvalidArgument, "An activity party needs a partyid or an addressused.");
      }
    }
    out[k] = std::move(v);
  }
  check_query_record(m.name, out);  // userquery/savedquery: their FetchXML (fetchxml.cpp)
  return out;
}

const char* state_label(const std::string& entity, int state) {
  if (entity == "contact" || entity == "account") return state == 0 ? "Active" : "Inactive";
  switch (state) {
    case 0:
      return "Open";
    case 1:
      return "Completed";
    case 2:
      return "Canceled";
    case 3:
      return "Scheduled";
  }
  return "?";
}

// Entities whose records a Create makes in their default state whatever it says: the
// state comes later, through SetState (an e-mail is created as an open draft, then completed
// as sent or received; SPEC U7).
bool created_open(const EntityMeta& m) {
  return m.name == "email";
}

// Resolve statecode/statuscode of attrs (either may be missing) against current values.
void apply_state(const EntityMeta& m, Attributes& attrs, const Attributes* current,
                 const std::string& id) {
  if (m.states.empty()) return;
  auto sc = attrs.find("statecode");
  auto st = attrs.find("statuscode");
  bool has_state = sc != attrs.end() && !sc->second.is_null();
  bool has_status = st != attrs.end() && !st->second.is_null();
  if ((sc != attrs.end() && sc->second.is_null()) || (st != attrs.end() && st->second.is_null()))
    fail(err::kInvalidArgument, "statecode and statuscode cannot be cleared.");
  int state, status;
  if (!current && created_open(m)) {
    state = m.states.begin()->first;  // Open
    if (has_state && sc->second.i != state)
      fail(err::kInvalidStateStatus, "A new " + m.name + " is created in state code " + m.name +
                                         "State." + state_label(m.name, state) + "; statecode " +
                                         std::to_string(sc->second.i) +
                                         " is set through SetState.");
  } else if (has_state) {
    state = static_cast<int>(sc->second.i);
  } else if (has_status) {
    state = -1;
    for (const auto& [s, list] : m.states)
      if (std::find(list.begin(), list.end(), st->second.i) != list.end()) state = s;
    if (state < 0)
      fail(err::kInvalidStateStatus, std::to_string(st->second.i) +
                                         " is not a valid status code on " + m.name +
                                         (id.empty() ? "" : " with Id " + id) + ".");
  } else if (current) {
    return;  // neither given on update
  } else {
    state = m.name == "appointment" ? 3 : 0;
  }
  auto it = m.states.find(state);
  if (it == m.states.end())
    fail(err::kInvalidStateStatus,
         std::to_string(state) + " is not a valid state code on " + m.name + ".");
  status = has_status ? static_cast<int>(st->second.i) : it->second.front();
  if (status == -1) status = it->second.front();
  if (std::find(it->second.begin(), it->second.end(), status) == it->second.end())
    fail(err::kInvalidStateStatus, std::to_string(status) +
                                       " is not a valid status code for state code " + m.name +
                                       "State." + state_label(m.name, state) + " on " + m.name +
                                       (id.empty() ? "" : " with Id " + id) + ".");
  attrs["statecode"] = Value::option(state);
  attrs["statuscode"] = Value::option(status);
}

void compute_fields(const EntityMeta& m, Attributes& attrs) {
  if (m.name == "contact" || m.name == "systemuser") {
    auto get = [&](const char* k) {
      auto it = attrs.find(k);
      return it == attrs.end() || it->second.is_null() ? std::string() : it->second.s;
    };
    std::string full = get("firstname");
    std::string last = get("lastname");
    if (!full.empty() && !last.empty()) full += " ";
    full += last;
    if (m.name == "contact" || !full.empty()) {
      if (full.empty())
        attrs.erase("fullname");
      else
        attrs["fullname"] = Value::str(full);
    }
  }
}

std::string later_than(const std::string& now, const Attributes& attrs) {
  auto it = attrs.find("modifiedon");
  if (it == attrs.end() || it->second.s < now) return now;
  // Same second as the previous write: step one second so modifiedon always moves.
  std::tm tm{};
  strptime(it->second.s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::time_t t = timegm(&tm) + 1;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string do_create(Ctx& ctx, Record in) {
  const EntityMeta& m = entity_or_fault(in.entity);
  if (m.name == "privilege" || m.name == "systemuser")
    fail(err::kInvalidArgument,
         "The emulator manages '" + m.name + "' records itself (admin API).");
  std::string id = in.id;
  if (auto it = in.attrs.find(m.primary_id); it != in.attrs.end() && !it->second.is_null()) {
    if (it->second.type != Value::Type::Guid)
      fail(err::kInvalidArgument, "Incorrect type of attribute value for '" + m.primary_id + "'.");
    if (!id.empty() && id != it->second.s)
      fail(err::kInvalidArgument, "Entity Id and " + m.primary_id + " do not match.");
    id = it->second.s;
  }
  if (id == kNullGuid) id.clear();
  Attributes attrs = validate(ctx, m, in.attrs);
  if (!id.empty() && ctx.store.id_exists(id))
    fail(err::kDuplicateRecord, "Cannot insert duplicate key.");
  if (id.empty()) id = new_guid();
  apply_state(m, attrs, nullptr, "");
  if (m.has_owner && (!attrs.count("ownerid") || attrs["ownerid"].is_null()))
    attrs["ownerid"] = Value::reference("systemuser", ctx.caller.id);
  auto now = now_iso();
  attrs["createdon"] = Value::datetime(now);
  attrs["modifiedon"] = Value::datetime(now);
  attrs["createdby"] = Value::reference("systemuser", ctx.caller.id);
  attrs["modifiedby"] = Value::reference("systemuser", ctx.caller.id);
  if (m.primary_id == "activityid") attrs["activitytypecode"] = Value::str(m.name);
  attrs[m.primary_id] = Value::guid(id);
  compute_fields(m, attrs);
  for (auto it = attrs.begin(); it != attrs.end();)
    it = it->second.is_null() ? attrs.erase(it) : std::next(it);
  Record rec{m.name, id, std::move(attrs)};
  ctx.store.insert(rec);
  return id;
}

// UpdateRequest.ConcurrencyBehavior and the Target's RowVersion (SPEC U6).
struct Concurrency {
  bool if_row_version_matches = false;
  std::string row_version;  // empty: none given
};

void do_update(Ctx& ctx, Record in, const Concurrency& cc = {});

// Another user's edit, committed before the update that triggers it goes on (UpdateHook).
void fire_update_hook(Ctx& ctx, const std::string& entity, const std::string& id) {
  if (!ctx.hooks) return;
  auto it = std::find_if(ctx.hooks->begin(), ctx.hooks->end(),
                         [&](const UpdateHook& h) { return h.entity == entity && h.id == id; });
  if (it == ctx.hooks->end()) return;
  UpdateHook hook = std::move(*it);
  ctx.hooks->erase(it);
  std::optional<User> as = hook.caller.empty() ? std::nullopt : ctx.store.user_by_id(hook.caller);
  Ctx other{ctx.store, as ? *as : ctx.caller, {}, nullptr};
  do_update(other, Record{entity, id, std::move(hook.attributes)});
  // Every Update runs in a transaction of its own that holds nothing else yet: commit the
  // other user's edit now, so that a fault of the triggering update cannot roll it back.
  ctx.store.commit();
  ctx.store.begin();
}

void do_update(Ctx& ctx, Record in, const Concurrency& cc) {
  const EntityMeta& m = entity_or_fault(in.entity);
  std::string id = in.id;
  if (auto it = in.attrs.find(m.primary_id); it != in.attrs.end() && !it->second.is_null())
    id = it->second.s;
  if (id.empty()) fail(err::kInvalidArgument, "Entity Id must be specified for Update");
  if (!ctx.store.get(m.name, id)) not_found(m.name, id);
  fire_update_hook(ctx, m.name, id);
  auto rec = ctx.store.get(m.name, id);
  if (!rec) not_found(m.name, id);
  if (m.name == "privilege") fail(err::kInvalidArgument, "privilege records are read-only.");
  if (cc.if_row_version_matches) {
    if (cc.row_version.empty())
      fail(err::kConcurrencyVersionNotProvided,
           "The RowVersion property must be provided when the value of ConcurrencyBehavior is "
           "IfVersionMatches.");
    if (cc.row_version != std::to_string(rec->version))
      fail(err::kConcurrencyVersionMismatch,
           "The version of the existing record doesn't match the RowVersion property provided.");
  }
  Attributes attrs = validate(ctx, m, in.attrs);
  apply_state(m, attrs, &rec->attrs, id);
  for (auto& [k, v] : attrs) {
    if (v.is_null())
      rec->attrs.erase(k);
    else
      rec->attrs[k] = std::move(v);
  }
  if (m.has_owner && !rec->attrs.count("ownerid"))
    rec->attrs["ownerid"] = Value::reference("systemuser", ctx.caller.id);
  rec->attrs["modifiedon"] = Value::datetime(later_than(now_iso(), rec->attrs));
  rec->attrs["modifiedby"] = Value::reference("systemuser", ctx.caller.id);
  compute_fields(m, rec->attrs);
  ctx.store.update(*rec);
}

void do_delete(Ctx& ctx, const std::string& entity, const std::string& id) {
  const EntityMeta& m = entity_or_fault(entity);
  if (m.name == "privilege" || m.name == "systemuser")
    fail(err::kInvalidArgument,
         "The emulator manages '" + m.name + "' records itself (admin API).");
  if (!ctx.store.remove(m.name, id)) not_found(m.name, id);
}

void do_set_state(Ctx& ctx, const EntityRef& target, int state, int status) {
  const EntityMeta& m = entity_or_fault(target.logical);
  if (m.states.empty()) fail(err::kInvalidArgument, "SetState is not supported on " + m.name + ".");
  auto rec = ctx.store.get(m.name, target.id);
  if (!rec) not_found(m.name, target.id);
  Attributes attrs{{"statecode", Value::option(state)}, {"statuscode", Value::option(status)}};
  apply_state(m, attrs, &rec->attrs, target.id);
  rec->attrs["statecode"] = attrs["statecode"];
  rec->attrs["statuscode"] = attrs["statuscode"];
  rec->attrs["modifiedon"] = Value::datetime(later_than(now_iso(), rec->attrs));
  rec->attrs["modifiedby"] = Value::reference("systemuser", ctx.caller.id);
  ctx.store.update(*rec);
}

std::string do_retrieve(Ctx& ctx, const std::string& entity, const std::string& id,
                        const ColumnSet& cs) {
  const EntityMeta& m = entity_or_fault(entity);
  check_columns(m, cs);
  auto rec = ctx.store.get(m.name, id);
  if (!rec) not_found(m.name, id);
  std::string out;
  write_entity_members(out, project(ctx, m, *rec, cs), true);
  return out;
}

std::string upper_braced(const std::string& g) {
  std::string s = "{" + g + "}";
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// EntityCollection members.
// A prefilter for RetrieveMultiple: when the criteria are only Equal/In conditions on text
// attributes (the E2 lookup by e-mail address), a record can match only if its stored
// attributes contain one of the values (case-insensitively), so the other records need not
// be parsed; when every such attribute is indexed, the index finds the candidates.
// nullopt: any other criteria (evaluated on every record, as before).
bool plain_text(const std::string& t) {
  if (t.empty()) return false;
  for (unsigned char c : t)
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  return true;
}
struct TextPrefilter {
  std::vector<std::string> values;
  bool indexed = true;  // every condition is on an indexed attribute
};
std::optional<TextPrefilter> required_texts(const EntityMeta& m, const Filter& f) {
  std::vector<TextPrefilter> parts;
  for (const auto& c : f.conditions) {
    auto am = m.attrs.find(c.attr);
    if (am == m.attrs.end() || (c.op != "Equal" && c.op != "In") || c.values.empty() ||
        (c.op == "Equal" && c.values.size() != 1) ||
        (am->second.type != AttrType::String && am->second.type != AttrType::Memo))
      return std::nullopt;
    TextPrefilter p;
    p.indexed = Store::indexed(c.attr);
    for (const auto& v : c.values) {
      if (v.type != Value::Type::String || !plain_text(v.s)) return std::nullopt;
      p.values.push_back(v.s);
    }
    parts.push_back(std::move(p));
  }
  for (const auto& sub : f.filters) {
    auto p = required_texts(m, sub);
    if (!p) return std::nullopt;
    parts.push_back(std::move(*p));
  }
  if (parts.empty()) return std::nullopt;
  if (!f.is_or) return parts.front();  // every part must match: the first one suffices
  TextPrefilter any;
  for (auto& p : parts) {
    any.values.insert(any.values.end(), p.values.begin(), p.values.end());
    any.indexed = any.indexed && p.indexed;
  }
  return any;
}

std::vector<Record> candidates(Ctx& ctx, const EntityMeta& m, const Filter& criteria) {
  auto pre = required_texts(m, criteria);
  if (pre && pre->indexed) return ctx.store.by_indexed(m.name, pre->values);
  return ctx.store.all(m.name, pre ? std::optional(std::move(pre->values)) : std::nullopt);
}

std::string do_retrieve_multiple(Ctx& ctx, const Query& q) {
  const EntityMeta& m = entity_or_fault(q.entity);
  check_columns(m, q.columns);
  for (const auto& o : q.orders)
    if (!m.attrs.count(o.attr))
      fail(err::kAttributeNotFound,
           "'" + m.name + "' entity doesn't contain attribute with Name = '" + o.attr + "'.");
  Evaluator ev{m, ctx.caller};
  std::vector<Record> rows;
  for (auto& r : candidates(ctx, m, q.criteria))
    if (visible_to(r, ctx.caller.id) && ev.match(r, q.criteria)) rows.push_back(std::move(r));
  std::vector<std::pair<std::vector<Key>, std::size_t>> keys;
  keys.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<Key> k;
    for (const auto& o : q.orders) {
      auto it = rows[i].attrs.find(o.attr);
      k.push_back(it == rows[i].attrs.end() ? Key{} : key_of(it->second));
    }
    keys.emplace_back(std::move(k), i);
  }
  std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    for (std::size_t j = 0; j < q.orders.size(); ++j) {
      const Key& x = a.first[j];
      const Key& y = b.first[j];
      int c = x.null != y.null ? (x.null ? -1 : 1) : (x.null ? 0 : compare(x, y));
      if (c != 0) return q.orders[j].descending ? c > 0 : c < 0;
    }
    return rows[a.second].id < rows[b.second].id;
  });
  std::size_t total = keys.size();
  if (q.top > 0 && total > static_cast<std::size_t>(q.top)) total = static_cast<std::size_t>(q.top);
  std::size_t count = q.top > 0 ? total : static_cast<std::size_t>(q.paging.count);
  std::size_t first = q.top > 0 ? 0 : static_cast<std::size_t>(q.paging.page - 1) * count;
  std::size_t last = std::min(total, first + count);
  bool more = last < total;
  std::string out = "<a:Entities>";
  for (std::size_t i = first; i < last; ++i) {
    out += "<a:Entity>";
    write_entity_members(out, project(ctx, m, rows[keys[i].second], q.columns), true);
    out += "</a:Entity>";
  }
  out += "</a:Entities><a:EntityName>" + m.name + "</a:EntityName>";
  out += kEntityCollectionTail;
  out += std::string("<a:MoreRecords>") + (more ? "true" : "false") + "</a:MoreRecords>";
  if (first < last) {
    std::string cookie = "<cookie page=\"" + std::to_string(q.paging.page) + "\"><" + m.primary_id +
                         " last=\"" + upper_braced(rows[keys[last - 1].second].id) + "\" first=\"" +
                         upper_braced(rows[keys[first].second].id) + "\" /></cookie>";
    out += "<a:PagingCookie>" + escape(cookie) + "</a:PagingCookie>";
  } else {
    out += "<a:PagingCookie i:nil=\"true\"/>";
  }
  out += "<a:TotalRecordCount>" + (q.paging.total ? std::to_string(total) : std::string("-1")) +
         "</a:TotalRecordCount><a:TotalRecordCountLimitExceeded>false</"
         "a:TotalRecordCountLimitExceeded>";
  return out;
}

// RetrieveMultiple with a FetchExpression (fetchxml.cpp evaluates it).
std::string do_fetch(Ctx& ctx, const XMLElement* q) {
  const XMLElement* text = child(q, "Query");
  if (!text || xml::is_nil(text) || xml::text(text).empty())
    fail(err::kInvalidXml, "A FetchExpression needs its Query (the FetchXML).");
  FetchPage page = run_fetch(ctx.store, xml::text(text),
                             FetchContext{ctx.caller.id, ctx.store.meta("businessunitid"), 0});
  const EntityMeta& m = entity_or_fault(page.entity);
  ColumnSet cs{page.all_attributes, page.columns};
  std::string out = "<a:Entities>";
  for (const auto& r : page.rows) {
    out += "<a:Entity>";
    write_entity_members(out, project(ctx, m, r, cs), false);
    out += "</a:Entity>";
  }
  out += "</a:Entities><a:EntityName>" + m.name + "</a:EntityName>";
  out += kEntityCollectionTail;
  out += std::string("<a:MoreRecords>") + (page.more ? "true" : "false") + "</a:MoreRecords>";
  if (page.cookie.empty())
    out += "<a:PagingCookie i:nil=\"true\"/>";
  else
    out += "<a:PagingCookie>" + escape(page.cookie) + "</a:PagingCookie>";
  out += "<a:TotalRecordCount>" + std::to_string(page.total) +
         "</a:TotalRecordCount><a:TotalRecordCountLimitExceeded>false</"
         "a:TotalRecordCountLimitExceeded>";
  return out;
}

// RetrieveMultiple's query: a FetchExpression, or a QueryExpression.
std::string retrieve_multiple_any(Ctx& ctx, const XMLElement* q) {
  if (xml::xsi_type(q).local == "FetchExpression") return do_fetch(ctx, q);
  return do_retrieve_multiple(ctx, parse_query(q));
}

std::string data_token(std::int64_t seq) {
  std::time_t t = static_cast<std::time_t>(now_unix());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%m/%d/%Y %H:%M:%S", &tm);
  return std::to_string(seq) + "!" + buf;
}

std::int64_t parse_token(Store& store, const std::string& token) {
  auto bang = token.find('!');
  std::int64_t v = -1;
  try {
    std::size_t n = 0;
    v = std::stoll(token.substr(0, bang), &n);
    if (n != std::min(bang, token.size())) v = -1;
  } catch (const std::exception&) {
    v = -1;
  }
  if (v < 0 || v > store.current_seq())
    fail(err::kExpiredVersionStamp,
         "Version stamp associated with the client has expired. Please perform a full sync.");
  return v;
}

std::string do_entity_changes(Ctx& ctx, const std::map<std::string, const XMLElement*>& ps) {
  std::string entity = xml::text(param(ps, "EntityName"));
  const EntityMeta& m = entity_or_fault(entity);
  ColumnSet cs = parse_columns(param(ps, "Columns", false));
  check_columns(m, cs);
  Paging paging = parse_paging(param(ps, "PageInfo", false));
  std::string token;
  if (auto* dv = param(ps, "DataVersion", false); dv && !xml::is_nil(dv)) token = xml::text(dv);
  bool full = token.empty();
  std::int64_t since = full ? 0 : parse_token(ctx.store, token);
  std::size_t skip = 0;
  // The cookie carries the last change version of the previous page.
  if (!paging.cookie.empty()) {
    auto p = paging.cookie.find("last=\"");
    if (p == std::string::npos) fail(err::kInvalidArgument, "Invalid paging cookie.");
    since = std::max<std::int64_t>(since, std::atoll(paging.cookie.c_str() + p + 6));
  } else {
    skip = static_cast<std::size_t>(paging.page - 1) * static_cast<std::size_t>(paging.count);
  }
  auto changes = ctx.store.changes(m.name, since, static_cast<int>(skip) + paging.count + 1, !full);
  if (skip > 0) changes.erase(changes.begin(), changes.begin() + std::min(skip, changes.size()));
  bool more = changes.size() > static_cast<std::size_t>(paging.count);
  if (more) changes.resize(static_cast<std::size_t>(paging.count));
  std::string out = std::string("<b:value i:type=\"c:BusinessEntityChanges\" xmlns:c=\"") +
                    xml::kXrm71 + "\"><c:Changes>";
  for (const auto& c : changes) {
    if (c.deleted) {
      out += "<c:anyType i:type=\"c:RemovedOrDeletedItem\"><c:RemovedItem><a:Id>" + c.record.id +
             "</a:Id><a:KeyAttributes/><a:LogicalName>" + m.name +
             "</a:LogicalName><a:Name i:nil=\"true\"/><a:RowVersion i:nil=\"true\"/></"
             "c:RemovedItem><c:Type>RemoveOrDeleted</c:Type></c:anyType>";
    } else {
      out += "<c:anyType i:type=\"c:NewOrUpdatedItem\"><c:NewOrUpdatedEntity>";
      write_entity_members(out, project(ctx, m, c.record, cs), true);
      out += "</c:NewOrUpdatedEntity><c:Type>NewOrUpdated</c:Type></c:anyType>";
    }
  }
  out += "</c:Changes><c:DataToken>" + escape(data_token(ctx.store.current_seq())) +
         "</c:DataToken><c:GlobalMetadataVersion i:nil=\"true\"/><c:MoreRecords>" +
         (more ? "true" : "false") + "</c:MoreRecords>";
  if (more)
    out += "<c:PagingCookie>" +
           escape("<cookie page=\"" + std::to_string(paging.page) + "\"><changeversion last=\"" +
                  std::to_string(changes.back().version) + "\" /></cookie>") +
           "</c:PagingCookie>";
  else
    out += "<c:PagingCookie i:nil=\"true\"/>";
  out += "</b:value>";
  return out;
}

// ConcurrencyBehavior is an xrm/7.1 enum, serialized by name; absent or nil is Default.
Concurrency parse_concurrency(const std::map<std::string, const XMLElement*>& ps,
                              const XMLElement* target) {
  Concurrency out;
  const XMLElement* b = param(ps, "ConcurrencyBehavior", false);
  std::string behavior = b && !xml::is_nil(b) ? xml::text(b) : "Default";
  if (behavior == "IfRowVersionMatches")
    out.if_row_version_matches = true;
  else if (behavior != "Default" && behavior != "AlwaysOverwrite")
    fail(err::kDeserialization, "Invalid ConcurrencyBehavior value '" + behavior + "'");
  if (auto* rv = child(target, "RowVersion"); rv && !xml::is_nil(rv))
    out.row_version = xml::text(rv);
  return out;
}

std::string guid_pair(const std::string& key, const std::string& id) {
  std::string out;
  write_pair(out, key, Value::guid(id));
  return out;
}

class Dispatcher {
 public:
  Dispatcher(Ctx& ctx, Service& svc) : ctx_(ctx), svc_(svc) {}

  // One OrganizationRequest (Execute form). Writes are wrapped in a transaction by the caller.
  Response execute(const XMLElement* req, bool nested = false) {
    std::string name = child_text(req, "RequestName");
    auto type = xml::xsi_type(req);
    if (name.empty() && type.local.size() > 7 && type.local.ends_with("Request"))
      name = type.local.substr(0, type.local.size() - 7);
    if (!type.local.empty() && type.local != "OrganizationRequest" &&
        type.local != name + "Request")
      fail(err::kInvalidArgument,
           "The request type '" + type.local + "' does not match RequestName '" + name + "'.");
    auto ps = parameters(req);
    Response r{name};
    if (name == "Create") {
      std::string id = do_create(ctx_, parse_entity(param(ps, "Target")));
      r.results = guid_pair("id", id);
    } else if (name == "Retrieve") {
      EntityRef t = parse_ref(param(ps, "Target"));
      std::string body = do_retrieve(ctx_, t.logical, t.id, parse_columns(param(ps, "ColumnSet")));
      r.results =
          "<a:KeyValuePairOfstringanyType><b:key>Entity</b:key><b:value i:type=\"a:Entity\">" +
          body + "</b:value></a:KeyValuePairOfstringanyType>";
    } else if (name == "Update") {
      const XMLElement* target = param(ps, "Target");
      do_update(ctx_, parse_entity(target), parse_concurrency(ps, target));
    } else if (name == "Delete") {
      EntityRef t = parse_ref(param(ps, "Target"));
      do_delete(ctx_, t.logical, t.id);
    } else if (name == "RetrieveMultiple") {
      std::string body = retrieve_multiple_any(ctx_, param(ps, "Query"));
      r.results =
          "<a:KeyValuePairOfstringanyType><b:key>EntityCollection</b:key><b:value "
          "i:type=\"a:EntityCollection\">" +
          body + "</b:value></a:KeyValuePairOfstringanyType>";
    } else if (name == "WhoAmI") {
      r.crm_ns = true;
      r.results = guid_pair("UserId", ctx_.caller.id) +
                  guid_pair("BusinessUnitId", svc_.business_unit_id()) +
                  guid_pair("OrganizationId", svc_.organization_id());
    } else if (name == "SetState") {
      r.crm_ns = true;
      EntityRef t = parse_ref(param(ps, "EntityMoniker"));
      auto opt = [&](const char* k) {
        Value v = parse_value(param(ps, k));
        if (v.type != Value::Type::OptionSet)
          fail(err::kInvalidArgument, std::string(k) + " must be an OptionSetValue");
        return static_cast<int>(v.i);
      };
      do_set_state(ctx_, t, opt("State"), opt("Status"));
    } else if (name == "RetrieveUserPrivileges") {
      r.crm_ns = true;
      Value uid = parse_value(param(ps, "UserId"));
      std::string id = uid.type == Value::Type::Guid ? uid.s : normalize_guid(uid.s);
      auto user = ctx_.store.user_by_id(id);
      if (!user) not_found("systemuser", id.empty() ? uid.s : id);
      std::string arr =
          std::string("<b:value i:type=\"r:ArrayOfRolePrivilege\" xmlns:r=\"") + xml::kCrm + "\">";
      for (const auto& p : kPrivileges) {
        if (std::string_view(p.name) == "prvSyncToOutlook" && !user->sync_to_outlook) continue;
        if (std::string_view(p.name) == "prvActOnBehalfOfAnotherUser" &&
            !Identities(ctx_.store).get(user->id).value_or(Identity{}).act_on_behalf)
          continue;
        arr += "<r:RolePrivilege><r:BusinessUnitId>" + svc_.business_unit_id() +
               "</r:BusinessUnitId><r:Depth>Global</r:Depth><r:PrivilegeId>" + p.id +
               "</r:PrivilegeId></r:RolePrivilege>";
      }
      arr += "</b:value>";
      r.results = "<a:KeyValuePairOfstringanyType><b:key>RolePrivileges</b:key>" + arr +
                  "</a:KeyValuePairOfstringanyType>";
    } else if (name == "RetrieveEntityChanges") {
      r.results = "<a:KeyValuePairOfstringanyType><b:key>EntityChanges</b:key>" +
                  do_entity_changes(ctx_, ps) + "</a:KeyValuePairOfstringanyType>";
    } else if (name == "ExecuteMultiple") {
      if (nested)
        fail(err::kInvalidArgument, "ExecuteMultiple cannot be nested in ExecuteMultiple.");
      r.results = execute_multiple(ps);
    } else {
      fail(err::kRequestNotSupported,
           "The request '" + name + "' is not supported by the CRM emulator.");
    }
    return r;
  }

  // Run fn in its own transaction.
  template <class F>
  auto transact(F&& fn) {
    ctx_.store.begin();
    try {
      if constexpr (std::is_void_v<decltype(fn())>) {
        fn();
        ctx_.store.commit();
      } else {
        auto r = fn();
        ctx_.store.commit();
        return r;
      }
    } catch (...) {
      ctx_.store.rollback();
      throw;
    }
  }

 private:
  std::string execute_multiple(const std::map<std::string, const XMLElement*>& ps) {
    const XMLElement* reqs = param(ps, "Requests");
    bool continue_on_error = false, return_responses = false;
    if (auto* s = param(ps, "Settings", false)) {
      continue_on_error = child_text(s, "ContinueOnError") == "true";
      return_responses = child_text(s, "ReturnResponses") == "true";
    }
    std::vector<const XMLElement*> items;
    for (auto* e = reqs->FirstChildElement(); e; e = e->NextSiblingElement()) items.push_back(e);
    if (items.size() > static_cast<std::size_t>(kMaxBatch))
      fail(err::kBatchSizeExceeded, "The number of requests in the batch (" +
                                        std::to_string(items.size()) +
                                        ") exceeds the maximum batch size of 1000.");
    bool faulted = false;
    std::string list;
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::string item;
      try {
        Response r = transact([&] { return execute(items[i], true); });
        if (return_responses) {
          item = "<c:ExecuteMultipleResponseItem><c:Fault i:nil=\"true\"/><c:RequestIndex>" +
                 std::to_string(i) + "</c:RequestIndex>";
          write_response_body(item, "c:Response", r, false);
          item += "</c:ExecuteMultipleResponseItem>";
        }
      } catch (const Fault& f) {
        faulted = true;
        item = "<c:ExecuteMultipleResponseItem><c:Fault>" + fault_members(f, "a:") +
               "</c:Fault><c:RequestIndex>" + std::to_string(i) +
               "</c:RequestIndex><c:Response i:nil=\"true\"/></c:ExecuteMultipleResponseItem>";
      }
      list += item;
      if (faulted && !continue_on_error) break;
    }
    std::string out;
    write_pair(out, "IsFaulted", Value::boolean(faulted));
    out += std::string(
               "<a:KeyValuePairOfstringanyType><b:key>Responses</b:key><b:value "
               "i:type=\"c:OrganizationResponseCollection\" xmlns:c=\"") +
           xml::kXrm2012 + "\">" + list + "</b:value></a:KeyValuePairOfstringanyType>";
    return out;
  }

  Ctx& ctx_;
  Service& svc_;
};

}  // namespace

Service::Service(Store& store) : store_(store) {
  Identities::ensure_schema(store_);
  ensure_org();
}

void Service::ensure_org() {
  store_.begin();
  try {
    if (store_.meta("organizationid").empty()) store_.set_meta("organizationid", new_guid());
    if (store_.meta("businessunitid").empty()) store_.set_meta("businessunitid", new_guid());
    for (const auto& p : kPrivileges) {
      if (store_.get("privilege", p.id)) continue;
      Record r{"privilege", p.id, {}};
      auto now = now_iso();
      r.attrs["privilegeid"] = Value::guid(p.id);
      r.attrs["name"] = Value::str(p.name);
      r.attrs["createdon"] = Value::datetime(now);
      r.attrs["modifiedon"] = Value::datetime(now);
      store_.insert(r);
    }
    seed_outlook_templates(store_);  // the default Outlook filter templates (fetchxml.cpp)
    store_.commit();
  } catch (...) {
    store_.rollback();
    throw;
  }
}

std::string Service::add_user(const std::string& fullname, const std::string& token,
                              const std::string& internalemailaddress) {
  std::string id = new_guid();
  store_.begin();
  try {
    Record r{"systemuser", id, {}};
    auto now = now_iso();
    r.attrs["systemuserid"] = Value::guid(id);
    r.attrs["fullname"] = Value::str(fullname);
    auto sp = fullname.rfind(' ');
    if (sp != std::string::npos) {
      r.attrs["firstname"] = Value::str(fullname.substr(0, sp));
      r.attrs["lastname"] = Value::str(fullname.substr(sp + 1));
    } else {
      r.attrs["lastname"] = Value::str(fullname);
    }
    r.attrs["businessunitid"] = Value::reference("businessunit", business_unit_id());
    r.attrs["isdisabled"] = Value::boolean(false);
    if (!internalemailaddress.empty())
      r.attrs["internalemailaddress"] = Value::str(internalemailaddress);
    r.attrs["createdon"] = Value::datetime(now);
    r.attrs["modifiedon"] = Value::datetime(now);
    store_.insert(r);
    store_.put_user(User{id, fullname, token, true});
    store_.commit();
  } catch (...) {
    store_.rollback();
    throw;
  }
  return id;
}

bool Service::set_sync_privilege(const std::string& user_id, bool granted) {
  auto u = store_.user_by_id(user_id);
  if (!u) return false;
  u->sync_to_outlook = granted;
  store_.put_user(*u);
  return true;
}

void Service::reset() {
  hooks_.clear();
  store_.begin();
  store_.wipe();
  Identities(store_).wipe();
  store_.commit();
  ensure_org();
}

User Service::seed_demo(const std::string& token) {
  if (auto u = store_.user_by_token(token)) return *u;
  std::string uid = add_user("Alice Demo", token);
  User alice = *store_.user_by_id(uid);
  transact_default_filters(uid);
  Ctx ctx{store_, alice, {}};
  static const char* kFirst[] = {"Anna",  "Ben",   "Chloe", "David", "Emma",
                                 "Felix", "Grace", "Henry", "Isla",  "Jack",
                                 "Kate",  "Liam",  "Mia",   "Noah",  "Olivia"};
  static const char* kLast[] = {"Smith",   "Jones",  "Taylor",   "Brown",  "Williams", "Wilson",
                                "Johnson", "Davies", "Robinson", "Wright", "Thompson", "Evans"};
  store_.begin();
  try {
    Record acc{"account",
               "",
               {{"name", Value::str("Contoso Ltd")},
                {"telephone1", Value::str("+1 555 0100")},
                {"websiteurl", Value::str("https://contoso.example")}}};
    std::string account = do_create(ctx, acc);
    std::vector<std::string> contacts;
    for (int i = 0; i < 300; ++i) {
      std::string first = kFirst[i % 15];
      std::string last = std::string(kLast[(i / 15) % 12]) + (i >= 180 ? std::to_string(i) : "");
      Record c{"contact", "", {{"firstname", Value::str(first)}, {"lastname", Value::str(last)}}};
      c.attrs["emailaddress1"] =
          Value::str(lower(first) + "." + lower(last) + std::to_string(i) + "@example.com");
      c.attrs["telephone1"] = Value::str("+1 555 " + std::to_string(1000 + i));
      if (i % 3 == 0) c.attrs["parentcustomerid"] = Value::reference("account", account);
      contacts.push_back(do_create(ctx, c));
    }
    for (int i = 0; i < 20; ++i) {
      Record t{"task", "", {{"subject", Value::str("Follow up #" + std::to_string(i + 1))}}};
      t.attrs["scheduledend"] = Value::datetime(normalize_datetime("2025-06-01T09:00:00Z"));
      t.attrs["regardingobjectid"] =
          Value::reference("contact", contacts[static_cast<std::size_t>(i)]);
      t.attrs["prioritycode"] = Value::option(1);
      do_create(ctx, t);
    }
    for (int i = 0; i < 10; ++i) {
      Record a{"appointment", "", {{"subject", Value::str("Meeting #" + std::to_string(i + 1))}}};
      a.attrs["scheduledstart"] =
          Value::datetime(normalize_datetime(fmt::format("2025-06-{:02}T10:00:00Z", i + 1)));
      a.attrs["scheduledend"] =
          Value::datetime(normalize_datetime(fmt::format("2025-06-{:02}T11:00:00Z", i + 1)));
      a.attrs["location"] = Value::str("Room " + std::to_string(i + 1));
      Value req{Value::Type::Parties};
      Party p;
      p.partyid = EntityRef{"contact", contacts[static_cast<std::size_t>(i)], ""};
      req.parties.push_back(p);
      a.attrs["requiredattendees"] = req;
      Value org{Value::Type::Parties};
      Party o;
      o.partyid = EntityRef{"systemuser", uid, ""};
      org.parties.push_back(o);
      a.attrs["organizer"] = org;
      do_create(ctx, a);
    }
    store_.commit();
  } catch (...) {
    store_.rollback();
    throw;
  }
  return alice;
}

std::string Service::fault_envelope(const Fault& f) {
  return envelope(std::string("<s:Fault><faultcode>s:Client</faultcode><faultstring "
                              "xml:lang=\"en-US\">") +
                  escape(f.what()) + "</faultstring><detail><OrganizationServiceFault xmlns=\"" +
                  xml::kXrm + "\" xmlns:i=\"" + xml::kXsi + "\">" + fault_members(f, "") +
                  "</OrganizationServiceFault></detail></s:Fault>");
}

std::string Service::handle(std::string_view soap_action, const std::string& body,
                            const User& caller) {
  if (body.find("<!DOCTYPE") != std::string::npos || body.find("<!ENTITY") != std::string::npos)
    fail(err::kDeserialization, "DTDs are not allowed in SOAP messages.");
  tinyxml2::XMLDocument doc(true, tinyxml2::PRESERVE_WHITESPACE);
  if (doc.Parse(body.data(), body.size()) != tinyxml2::XML_SUCCESS)
    fail(err::kDeserialization, std::string("The request is not well-formed XML: ") +
                                    (doc.ErrorStr() ? doc.ErrorStr() : "?"));
  const XMLElement* env = doc.RootElement();
  auto eq = env ? xml::element_qname(env) : xml::QName{};
  if (!env || eq.local != "Envelope" || eq.ns != xml::kSoap)
    fail(err::kDeserialization, "The message is not a SOAP 1.1 envelope.");
  const XMLElement* soap_body = child(env, "Body");
  const XMLElement* op = soap_body ? soap_body->FirstChildElement() : nullptr;
  if (!op) fail(err::kDeserialization, "The SOAP body is empty.");
  auto oq = xml::element_qname(op);
  if (oq.ns != xml::kServices)
    fail(err::kDeserialization, "Unknown operation element {" + oq.ns + "}" + oq.local + ".");
  std::string action(soap_action);
  if (action.size() >= 2 && action.front() == '"' && action.back() == '"')
    action = action.substr(1, action.size() - 2);
  if (!action.empty()) {
    auto slash = action.rfind('/');
    std::string name = action.substr(slash == std::string::npos ? 0 : slash + 1);
    if (name != oq.local)
      fail(err::kDeserialization,
           "The SOAPAction '" + action + "' does not match the body element '" + oq.local + "'.");
  }
  // CallerId: the request acts as that user (caller.cpp checks prvActOnBehalfOfAnotherUser).
  const User acting = act_as(store_, caller, caller_id_header(env));
  Ctx ctx{store_, acting, {}, &hooks_};
  Dispatcher d(ctx, *this);
  const std::string& name = oq.local;
  std::string out;
  if (name == "Execute") {
    const XMLElement* req = child(op, "request");
    if (!req) fail(err::kInvalidArgument, "Execute without a request.");
    bool multi = child_text(req, "RequestName") == "ExecuteMultiple";
    Response r = multi ? d.execute(req) : d.transact([&] { return d.execute(req); });
    out = "<ExecuteResponse xmlns=\"" + std::string(xml::kServices) + "\">";
    write_response_body(out, "ExecuteResult", r, true);
    out += "</ExecuteResponse>";
  } else if (name == "Create") {
    auto* e = child(op, "entity");
    if (!e) fail(err::kInvalidArgument, "Create without an entity.");
    std::string id = d.transact([&] { return do_create(ctx, parse_entity(e)); });
    out = "<CreateResponse xmlns=\"" + std::string(xml::kServices) + "\"><CreateResult>" + id +
          "</CreateResult></CreateResponse>";
  } else if (name == "Update") {
    auto* e = child(op, "entity");
    if (!e) fail(err::kInvalidArgument, "Update without an entity.");
    d.transact([&] { do_update(ctx, parse_entity(e)); });
    out = "<UpdateResponse xmlns=\"" + std::string(xml::kServices) + "\"/>";
  } else if (name == "Delete") {
    std::string entity = child_text(op, "entityName");
    std::string id = required_guid(child_text(op, "id"), "id");
    d.transact([&] { do_delete(ctx, entity, id); });
    out = "<DeleteResponse xmlns=\"" + std::string(xml::kServices) + "\"/>";
  } else if (name == "Retrieve") {
    std::string entity = child_text(op, "entityName");
    std::string id = required_guid(child_text(op, "id"), "id");
    std::string body2 = do_retrieve(ctx, entity, id, parse_columns(child(op, "columnSet")));
    out = "<RetrieveResponse xmlns=\"" + std::string(xml::kServices) + "\"><RetrieveResult" +
          result_ns() + ">" + body2 + "</RetrieveResult></RetrieveResponse>";
  } else if (name == "RetrieveMultiple") {
    auto* q = child(op, "query");
    if (!q) fail(err::kInvalidArgument, "RetrieveMultiple without a query.");
    std::string body2 = retrieve_multiple_any(ctx, q);
    out = "<RetrieveMultipleResponse xmlns=\"" + std::string(xml::kServices) +
          "\"><RetrieveMultipleResult" + result_ns() + ">" + body2 +
          "</RetrieveMultipleResult></RetrieveMultipleResponse>";
  } else {
    fail(err::kRequestNotSupported, "The operation '" + name + "' is not supported.");
  }
  return envelope(out);
}

}  // namespace crm_emulator
