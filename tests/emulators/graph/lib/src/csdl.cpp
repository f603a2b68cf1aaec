#include "csdl.hpp"

#include "util.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <regex>

namespace graph_emulator {

namespace {

std::string attr(const xmlNode* n, const char* name) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  if (!v) return "";
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

bool is(const xmlNode* n, const char* name) {
  return n->type == XML_ELEMENT_NODE &&
         xmlStrcmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

// "Collection(graph.x)" -> ("x", true); "Edm.String" stays.
std::pair<std::string, bool> type_ref(const std::string& raw) {
  std::string t = raw;
  bool coll = false;
  if (t.rfind("Collection(", 0) == 0 && t.back() == ')') {
    t = t.substr(11, t.size() - 12);
    coll = true;
  }
  if (t.rfind("Edm.", 0) == 0) return {t, coll};
  return {Csdl::short_name(t), coll};
}

const char* json_kind(const rapidjson::Value& v) {
  if (v.IsObject()) return "StartObject";
  if (v.IsArray()) return "StartArray";
  return "PrimitiveValue";
}

BodyError read_error(std::string message) {
  return {"RequestBodyRead", std::move(message)};
}

bool matches(const std::string& s, const char* pattern) {
  return std::regex_match(s, std::regex(pattern));
}

}  // namespace

std::string service_type_name(const std::string& type) {
  if (type.empty()) return type;
  std::string t = type;
  t[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return "Microsoft.OutlookServices." + t;
}

std::string Csdl::short_name(const std::string& qualified) {
  std::string t = qualified;
  if (!t.empty() && t[0] == '#') t.erase(0, 1);
  for (const char* prefix : {"microsoft.graph.", "graph."})
    if (t.rfind(prefix, 0) == 0) return t.substr(std::char_traits<char>::length(prefix));
  return "";
}

std::optional<Csdl> Csdl::load(const std::string& path, std::string& error) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    error = "the Graph CSDL " + path + " is missing (graph-emulator checks every body against it)";
    return std::nullopt;
  }
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
      xmlReadFile(path.c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_HUGE),
      &xmlFreeDoc);
  if (!doc) {
    error = "the Graph CSDL " + path + " is not well-formed XML";
    return std::nullopt;
  }
  Csdl out;
  xmlNode* root = xmlDocGetRootElement(doc.get());
  for (xmlNode* ds = root ? root->children : nullptr; ds; ds = ds->next) {
    if (!is(ds, "DataServices")) continue;
    for (xmlNode* schema = ds->children; schema; schema = schema->next) {
      if (!is(schema, "Schema")) continue;
      std::string ns = attr(schema, "Namespace");
      std::string prefix = ns == "microsoft.graph" ? "" : short_name(ns + ".");
      if (ns != "microsoft.graph" && ns.rfind("microsoft.graph.", 0) != 0) continue;
      for (xmlNode* n = schema->children; n; n = n->next) {
        bool entity = is(n, "EntityType"), complex = is(n, "ComplexType");
        if (entity || complex) {
          CsdlType t;
          t.name = prefix + attr(n, "Name");
          t.complex = complex;
          t.abstract = attr(n, "Abstract") == "true";
          t.open = attr(n, "OpenType") == "true";
          std::string base = attr(n, "BaseType");
          if (!base.empty()) t.base = short_name(base);
          for (xmlNode* p = n->children; p; p = p->next) {
            bool nav = is(p, "NavigationProperty");
            if (!nav && !is(p, "Property")) continue;
            CsdlProperty prop;
            prop.name = attr(p, "Name");
            std::tie(prop.type, prop.collection) = type_ref(attr(p, "Type"));
            prop.nullable = attr(p, "Nullable") != "false";
            prop.navigation = nav;
            t.own.push_back(std::move(prop));
          }
          out.types_[t.name] = std::move(t);
        } else if (is(n, "EnumType")) {
          CsdlEnum e;
          e.name = prefix + attr(n, "Name");
          e.flags = attr(n, "IsFlags") == "true";
          for (xmlNode* m = n->children; m; m = m->next)
            if (is(m, "Member")) e.members.insert(attr(m, "Name"));
          out.enums_[e.name] = std::move(e);
        }
      }
    }
  }
  for (const char* needed : {"entity", "contact", "event", "message", "todoTask", "outlookCategory",
                             "linkedResource", "singleValueLegacyExtendedProperty"}) {
    if (!out.type(needed)) {
      error = "the Graph CSDL " + path + " has no microsoft.graph." + needed;
      return std::nullopt;
    }
  }
  return out;
}

const CsdlType* Csdl::type(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

const CsdlEnum* Csdl::enum_type(const std::string& name) const {
  auto it = enums_.find(name);
  return it == enums_.end() ? nullptr : &it->second;
}

std::vector<const CsdlProperty*> Csdl::properties(const std::string& name) const {
  std::vector<const CsdlType*> chain;
  for (const CsdlType* t = type(name); t; t = t->base.empty() ? nullptr : type(t->base))
    chain.push_back(t);
  std::vector<const CsdlProperty*> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (const auto& p : (*it)->own) out.push_back(&p);
  return out;
}

const CsdlProperty* Csdl::property(const std::string& type_name, const std::string& name) const {
  for (const CsdlType* t = type(type_name); t; t = t->base.empty() ? nullptr : type(t->base))
    for (const auto& p : t->own)
      if (p.name == name) return &p;
  return nullptr;
}

bool Csdl::derives_from(const std::string& name, const std::string& base) const {
  for (const CsdlType* t = type(name); t; t = t->base.empty() ? nullptr : type(t->base))
    if (t->name == base) return true;
  return false;
}

void Csdl::normalize_enums(rapidjson::Value& v, const std::string& type_name,
                           rapidjson::Document::AllocatorType& alloc) const {
  if (!v.IsObject()) return;
  std::string actual = type_name;
  if (v.HasMember("@odata.type") && v["@odata.type"].IsString()) {
    std::string t = short_name(v["@odata.type"].GetString());
    if (type(t)) actual = t;
  }
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    const CsdlProperty* p = property(actual, m->name.GetString());
    if (!p || (p->type.rfind("Edm.", 0) == 0 && p->type != "Edm.DateTimeOffset")) continue;
    auto fix = [&](rapidjson::Value& x) {
      if (p->type == "Edm.DateTimeOffset") {
        // A bare date or a local time, as Outlook takes them, is kept as UTC with a Z: what
        // Graph answers is an Edm.DateTimeOffset.
        if (!x.IsString()) return;
        std::string in = x.GetString();
        if (auto ms = parse_iso_utc(in)) {
          std::string out = format_utc(*ms, in.find('.') == std::string::npos ? 0 : 7);
          x.SetString(out.c_str(), static_cast<rapidjson::SizeType>(out.size()), alloc);
        }
        return;
      }
      if (const CsdlEnum* e = enum_type(p->type)) {
        if (!x.IsString() || e->flags) return;
        for (const auto& member : e->members)
          if (member.size() == x.GetStringLength() &&
              std::equal(member.begin(), member.end(), x.GetString(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
              }))
            x.SetString(member.c_str(), static_cast<rapidjson::SizeType>(member.size()));
      } else {
        normalize_enums(x, p->type, alloc);
      }
    };
    if (m->value.IsArray())
      for (auto& x : m->value.GetArray()) fix(x);
    else
      fix(m->value);
  }
}

std::optional<BodyError> Csdl::check_body(const rapidjson::Value& body, const std::string& type,
                                          const BodyRules& rules) const {
  if (!body.IsObject())
    return read_error("An unexpected '" + std::string(json_kind(body)) +
                      "' node was found when reading from the JSON reader. A 'StartObject' node "
                      "was expected.");
  return check_object(body, type, &rules);
}

std::optional<BodyError> Csdl::check_object(const rapidjson::Value& v, const std::string& expected,
                                            const BodyRules* rules) const {
  std::string actual = expected;
  if (v.HasMember("@odata.type")) {
    const auto& t = v["@odata.type"];
    std::string given = t.IsString() ? t.GetString() : "";
    std::string name = short_name(given);
    if (name.empty() || !type(name))
      return read_error("A type named '" + given +
                        "' could not be resolved by the model. When a model is available, each "
                        "type name must resolve to a valid type.");
    if (!derives_from(name, expected))
      return read_error("A type named '" + given + "' is not compatible with the expected type '" +
                        "microsoft.graph." + expected + "'.");
    actual = name;
  }
  const CsdlType* t = type(actual);
  if (!t) return read_error("No type microsoft.graph." + actual + " in the model.");
  std::set<std::string> seen;
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    std::string key(m->name.GetString(), m->name.GetStringLength());
    if (key.empty()) return read_error("A property with an empty name was found.");
    if (!seen.insert(key).second)
      return read_error("Multiple property nodes named '" + key + "' were found in the payload.");
    if (key[0] == '@' || key.find('@') != std::string::npos) continue;  // annotations
    const CsdlProperty* p = property(actual, key);
    if (!p || (p->navigation && (!rules || !rules->inline_navigation.count(key))))
      return read_error("The property '" + key + "' does not exist on type '" +
                        service_type_name(actual) +
                        "'. Make sure to only use property names that are defined by the type or "
                        "mark the type as open type.");
    if (auto e = check_value(m->value, *p, key)) return e;
  }
  return std::nullopt;
}

std::optional<BodyError> Csdl::check_value(const rapidjson::Value& v, const CsdlProperty& p,
                                           const std::string& where) const {
  if (p.collection) {
    if (v.IsNull()) return std::nullopt;
    if (!v.IsArray())
      return read_error("An unexpected '" + std::string(json_kind(v)) +
                        "' node was found for property named '" + where +
                        "' when reading from the JSON reader. A 'StartArray' node was expected.");
    for (const auto& e : v.GetArray())
      if (auto err = check_single(e, p.type, false, where)) return err;
    return std::nullopt;
  }
  return check_single(v, p.type, p.nullable, where);
}

std::optional<BodyError> Csdl::check_single(const rapidjson::Value& v, const std::string& t,
                                            bool nullable, const std::string& where) const {
  if (v.IsNull()) {
    if (nullable) return std::nullopt;
    return read_error("A null value was found for the property named '" + where +
                      "', which has the expected type '" + t +
                      "[Nullable=False]'. The expected type '" + t +
                      "[Nullable=False]' does not allow null values.");
  }
  if (t.rfind("Edm.", 0) != 0) {
    if (const CsdlEnum* e = enum_type(t)) {
      if (!v.IsString())
        return read_error("An unexpected '" + std::string(json_kind(v)) +
                          "' node was found for property named '" + where +
                          "'. A 'PrimitiveValue' string was expected.");
      std::string s = v.GetString();
      std::size_t pos = 0;
      while (pos <= s.size()) {  // flags enums: "a,b"
        auto comma = e->flags ? s.find(',', pos) : std::string::npos;
        std::string one =
            s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        while (!one.empty() && one.front() == ' ') one.erase(0, 1);
        bool found = false;
        for (const auto& m : e->members)  // Graph takes enum members in any case
          if (m.size() == one.size() &&
              std::equal(m.begin(), m.end(), one.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
              }))
            found = true;
        if (!found)
          return read_error("The value '" + s + "' of property '" + where +
                            "' is not a member of the enum type 'microsoft.graph." + t + "'.");
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      return std::nullopt;
    }
    if (!v.IsObject())
      return read_error("An unexpected '" + std::string(json_kind(v)) +
                        "' node was found for property named '" + where +
                        "' when reading from the JSON reader. A 'StartObject' node was expected.");
    return check_object(v, t, nullptr);
  }
  auto literal = [&](bool ok) -> std::optional<BodyError> {
    if (ok) return std::nullopt;
    std::string shown = v.IsString() ? v.GetString() : json_kind(v);
    return read_error("Cannot convert the literal '" + shown + "' to the expected type '" + t +
                      "' (property '" + where + "').");
  };
  if (t == "Edm.String") return literal(v.IsString());
  if (t == "Edm.Boolean") return literal(v.IsBool());
  if (t == "Edm.Int32") return literal(v.IsInt());
  if (t == "Edm.Int64") return literal(v.IsInt64());
  if (t == "Edm.Int16" || t == "Edm.Byte" || t == "Edm.SByte")
    return literal(v.IsInt() && v.GetInt() >= -32768 && v.GetInt() <= 65535);
  if (t == "Edm.Double" || t == "Edm.Single" || t == "Edm.Decimal") return literal(v.IsNumber());
  if (!v.IsString()) return literal(false);
  std::string s = v.GetString();
  if (t == "Edm.DateTimeOffset")  // Outlook also takes a bare date and a local time
    return literal(
        matches(s, R"(\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?)?)"));
  if (t == "Edm.Date") return literal(matches(s, R"(\d{4}-\d{2}-\d{2})"));
  if (t == "Edm.TimeOfDay") return literal(matches(s, R"(\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?)"));
  if (t == "Edm.Guid")
    return literal(matches(
        s, R"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"));
  if (t == "Edm.Binary") return literal(matches(s, R"([A-Za-z0-9+/_-]*={0,2})"));
  if (t == "Edm.Duration")
    return literal(matches(s, R"(-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?)"));
  return literal(false);
}

}  // namespace graph_emulator
