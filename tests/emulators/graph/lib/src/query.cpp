// OData query options and Prefer preferences: $select, $top, $skip, $expand of extended
// properties and linked resources, the extended-property $filter, outlook.timezone and
// odata.maxpagesize.
#include <regex>

#include "service.hpp"
#include "tz.hpp"

namespace graph_emulator {

namespace {

const std::set<std::string> kKnownOptions = {"$select", "$top",       "$skip",       "$filter",
                                             "$expand", "$skiptoken", "$deltatoken", "$orderby",
                                             "$count",  "$search",    "$format"};

GraphError parse_uri(const std::string& message) {
  return bad_request("RequestBroker--ParseUri", message);
}

// Splits at top-level commas (not inside parentheses or quotes).
std::vector<std::string> top_level(const std::string& s) {
  std::vector<std::string> out;
  int depth = 0;
  bool quoted = false;
  std::string cur;
  for (char ch : s) {
    if (ch == '\'') quoted = !quoted;
    if (!quoted && ch == '(') ++depth;
    if (!quoted && ch == ')') --depth;
    if (!quoted && depth == 0 && ch == ',') {
      out.push_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += ch;
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}

std::string unquote(const std::string& s) {  // OData doubles a quote inside a string literal
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') ++i;
  }
  return out;
}

const CsdlProperty* find_ci(const Csdl& csdl, const std::string& type, const std::string& name) {
  for (const auto* p : csdl.properties(type))
    if (iequal(p->name, name)) return p;
  return nullptr;
}

}  // namespace

std::string canonical_ext_id(const std::string& id) {
  static const std::regex named(
      R"(^\s*(\w+)\s+\{([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}\s+(Name|Id)\s+(\S.*?)\s*$)",
      std::regex::icase);
  static const std::regex tagged(R"(^\s*(\w+)\s+(0x[0-9a-fA-F]{1,4})\s*$)", std::regex::icase);
  static const std::set<std::string> types = {
      "string", "integer", "boolean", "systemtime", "binary", "double",         "float",
      "short",  "long",    "clsid",   "currency",   "object", "applicationtime"};
  std::smatch m;
  if (std::regex_match(id, m, named) && types.count(lower(m[1]))) {
    std::string kind = lower(m[3]);
    std::string name = kind == "id" ? lower(m[4]) : std::string(m[4]);
    return lower(m[1]) + " {" + lower(m[2]) + "} " + kind + " " + name;
  }
  if (std::regex_match(id, m, tagged) && types.count(lower(m[1])))
    return lower(m[1]) + " " + lower(m[2]);
  throw bad_request("ErrorInvalidProperty",
                    "The extended property id '" + id + "' is not a valid property id.");
}

bool ext_filter_matches(const rapidjson::Value& data, const Query::ExtFilter& f) {
  std::string want = canonical_ext_id(f.id);
  if (!data.HasMember("singleValueExtendedProperties")) return false;
  for (const auto& p : data["singleValueExtendedProperties"].GetArray()) {
    if (canonical_ext_id(str_member(p, "id")) != want) continue;
    bool same = iequal(str_member(p, "value"), f.value);
    return f.op == "eq" ? same : !same;
  }
  return false;
}

bool time_filter_matches(const Item& it, const rapidjson::Value& data, const Query::TimeFilter& f) {
  std::optional<std::int64_t> at;
  if (f.prop == "createdDateTime") at = it.created_ms / 1000 * 1000;
  if (f.prop == "lastModifiedDateTime") at = it.modified_ms / 1000 * 1000;
  if (f.prop == "receivedDateTime") at = parse_iso_utc(str_member(data, "receivedDateTime"));
  if (!at) return false;
  if (f.op == "ge") return *at >= f.ms;
  if (f.op == "gt") return *at > f.ms;
  if (f.op == "le") return *at <= f.ms;
  if (f.op == "lt") return *at < f.ms;
  return *at == f.ms;
}

Query parse_query(const emulator::Request& req, const std::string& type, const Csdl& csdl) {
  Query q;
  if (!req.query.empty()) {
    for (const auto& part : split(req.query, '&')) {
      if (part.empty()) continue;
      auto eq = part.find('=');
      std::string k, v;
      if (!emulator::percent_decode(part.substr(0, eq), k, true) ||
          !emulator::percent_decode(eq == std::string::npos ? "" : part.substr(eq + 1), v, true))
        throw parse_uri("Invalid percent-encoding in the query.");
      if (!k.empty() && k[0] != '$' && kKnownOptions.count("$" + lower(k))) k = "$" + k;
      if (!k.empty() && k[0] == '$') {
        k = lower(k);
        if (!kKnownOptions.count(k)) throw parse_uri("Query option '" + k + "' is not allowed.");
      }
      if (q.params.count(k))
        throw parse_uri("Query option '" + k + "' was specified more than once.");
      q.params[k] = v;
    }
  }
  if (q.has("$select")) {
    for (const auto& name : top_level(q.get("$select"))) {
      const CsdlProperty* p = find_ci(csdl, type, name);
      if (!p)
        throw parse_uri("Could not find a property named '" + name + "' on type 'microsoft.graph." +
                        type + "'.");
      q.select.push_back(p->name);
    }
  }
  if (q.has("$top")) {
    const std::string& t = q.get("$top");
    if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 6)
      throw parse_uri("Invalid value '" + t + "' for $top query option found.");
  }
  if (q.has("$skip")) {
    const std::string& t = q.get("$skip");
    if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 9)
      throw parse_uri("Invalid value '" + t + "' for $skip query option found.");
  }
  if (q.has("$expand")) {
    static const std::regex ids(R"(\b[iI][dD]\s+eq\s+'((?:[^']|'')*)')");
    for (const auto& e : top_level(q.get("$expand"))) {
      auto open = e.find('(');
      std::string name = trim(e.substr(0, open));
      if (iequal(name, "singleValueExtendedProperties") && find_ci(csdl, type, name)) {
        q.expand_ext = true;
        if (open != std::string::npos) {
          std::string opts = e.substr(open + 1, e.size() - open - 2);
          for (std::sregex_iterator it(opts.begin(), opts.end(), ids), end; it != end; ++it)
            q.expand_ext_ids.push_back(unquote((*it)[1]));
          if (q.expand_ext_ids.empty())
            throw bad_request("ErrorInvalidUrlQueryFilter",
                              "The $expand of singleValueExtendedProperties takes $filter=id eq "
                              "'...' (or ...).");
          for (const auto& id : q.expand_ext_ids) canonical_ext_id(id);
        }
      } else if (iequal(name, "linkedResources") && find_ci(csdl, type, name)) {
        q.expand_linked = true;
      } else if (find_ci(csdl, type, name)) {
        throw bad_request("BadRequest", "The emulator does not expand '" + name + "'.");
      } else {
        throw parse_uri("Could not find a property named '" + name + "' on type 'microsoft.graph." +
                        type + "'.");
      }
    }
  }
  if (q.has("$filter")) {
    static const std::regex any(
        R"(^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'\s+and\s+\1/value\s+(eq|ne)\s+'((?:[^']|'')*)'\s*\)\s*$)",
        std::regex::icase);
    std::smatch m;
    const std::string& f = q.get("$filter");
    static const std::regex timed(
        R"(^\s*(createdDateTime|lastModifiedDateTime|receivedDateTime)\s+(ge|gt|le|lt|eq)\s+(\S+)\s*$)",
        std::regex::icase);
    if (std::regex_match(f, m, any)) {
      q.ext_filter = Query::ExtFilter{unquote(m[2]), unquote(m[4]), lower(m[3])};
      canonical_ext_id(q.ext_filter->id);
    } else if (std::regex_match(f, m, timed) && find_ci(csdl, type, m[1])) {
      auto at = parse_iso_utc(m[3]);
      if (!at) throw bad_request("ErrorInvalidUrlQueryFilter", "Invalid date in the filter.");
      q.time_filter = Query::TimeFilter{find_ci(csdl, type, m[1])->name, lower(m[2]), *at};
    } else {
      throw bad_request("ErrorInvalidUrlQueryFilter",
                        "The query filter contains one or more invalid nodes (the emulator takes "
                        "singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq "
                        "'...') and {created|lastModified|received}DateTime ge|gt|le|lt|eq "
                        "{value}).");
    }
  }
  for (const auto& h : req.headers) {
    if (!iequal(h.name, "Prefer")) continue;
    for (const auto& pref : top_level(h.value)) {
      auto eq = pref.find('=');
      std::string k = lower(trim(pref.substr(0, eq)));
      std::string v = eq == std::string::npos ? "" : trim(pref.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (k == "outlook.timezone") {
        if (!zone_known(v))
          throw bad_request("TimeZoneNotSupportedException",
                            "A valid TimeZone value must be specified. The following TimeZone "
                            "value is not supported: '" +
                                v + "'.");
        q.time_zone = v;
      } else if (k == "outlook.body-content-type") {
        if (!iequal(v, "text") && !iequal(v, "html"))
          throw bad_request("BadRequest", "outlook.body-content-type takes \"text\" or \"html\".");
        q.body_type = lower(v);
      } else if (k == "odata.maxpagesize") {
        if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(v) == 0)
          throw bad_request("BadRequest", "Invalid odata.maxpagesize preference '" + v + "'.");
        q.max_page_size = std::stoi(v);
      }
    }
  }
  return q;
}

}  // namespace graph_emulator
