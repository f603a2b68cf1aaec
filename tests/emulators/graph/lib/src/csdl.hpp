// The Graph v1.0 CSDL (../shared/reference/graph/v1.0-Prod.csdl) as the emulator's referee:
// entity, complex and enum types of the microsoft.graph schema, loaded with libxml2 at start,
// and a checker for request bodies (property names, JSON kinds, Edm literals, enum members).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

namespace graph_emulator {

struct CsdlProperty {
  std::string name;
  std::string type;  // "Edm.String", or a schema type without namespace/alias ("emailAddress")
  bool collection = false;
  bool nullable = true;
  bool navigation = false;
};

struct CsdlType {
  std::string name;
  std::string base;  // "" for a root type
  bool complex = false;
  bool abstract = false;
  bool open = false;
  std::vector<CsdlProperty> own;
};

struct CsdlEnum {
  std::string name;
  bool flags = false;
  std::set<std::string> members;
};

// What a request body may hold: everything the CSDL type has, except the navigation
// properties not in `inline_navigation` (those the emulator takes inline, e.g. linkedResources).
struct BodyRules {
  std::set<std::string> inline_navigation;
  bool patch = false;
};

// A refused body: Graph's error code and message.
struct BodyError {
  std::string code;
  std::string message;
};

class Csdl {
 public:
  // Reads the file; nullopt with `error` naming the path when it is missing or not a CSDL.
  static std::optional<Csdl> load(const std::string& path, std::string& error);

  const CsdlType* type(const std::string& name) const;
  const CsdlEnum* enum_type(const std::string& name) const;
  // Every property of `type`, base types' first (entity's id first).
  std::vector<const CsdlProperty*> properties(const std::string& type) const;
  const CsdlProperty* property(const std::string& type, const std::string& name) const;
  bool derives_from(const std::string& type, const std::string& base) const;
  std::size_t type_count() const { return types_.size(); }

  // "microsoft.graph.contact", "#microsoft.graph.contact" or "graph.contact" -> "contact";
  // "" when it is not a name of this schema.
  static std::string short_name(const std::string& qualified);

  // Checks a JSON object against entity `type`: nullopt when it fits.
  std::optional<BodyError> check_body(const rapidjson::Value& body, const std::string& type,
                                      const BodyRules& rules) const;

  // Enum values in the member's own spelling ("Required" -> "required") and DateTimeOffset
  // values in UTC with a Z, in place, through complex values and collections of a checked body.
  void normalize_enums(rapidjson::Value& v, const std::string& type,
                       rapidjson::Document::AllocatorType& alloc) const;

 private:
  std::optional<BodyError> check_value(const rapidjson::Value& v, const CsdlProperty& p,
                                       const std::string& where) const;
  std::optional<BodyError> check_single(const rapidjson::Value& v, const std::string& type,
                                        bool nullable, const std::string& where) const;
  std::optional<BodyError> check_object(const rapidjson::Value& v, const std::string& type,
                                        const BodyRules* rules) const;

  std::map<std::string, CsdlType> types_;
  std::map<std::string, CsdlEnum> enums_;
};

// Graph's Outlook service names types in its messages as Microsoft.OutlookServices.Contact.
std::string service_type_name(const std::string& type);

}  // namespace graph_emulator
