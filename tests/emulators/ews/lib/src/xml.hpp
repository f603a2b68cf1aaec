// libxml2 helpers: safe parsing of untrusted requests, navigation, a canonical
// serializer (types namespace as "t:", messages as "m:") and schema validation.
#pragma once

#include <libxml/tree.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ews_emulator {

inline constexpr const char* kSoapNs = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr const char* kMNs = "http://schemas.microsoft.com/exchange/services/2006/messages";
inline constexpr const char* kTNs = "http://schemas.microsoft.com/exchange/services/2006/types";
inline constexpr const char* kENs = "http://schemas.microsoft.com/exchange/services/2006/errors";

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFree>;

// Where and why a document was rejected (parse error or schema violation).
struct XmlProblem {
  std::string message;
  int line = 0;
  int column = 0;
};

// Parses untrusted input: no DTD (a DOCTYPE is refused), no entity expansion, no
// network, libxml2's default depth and size limits. nullptr + problem on failure.
DocPtr parse_untrusted(std::string_view text, XmlProblem& problem);
// Parses our own stored fragments (already canonical).
DocPtr parse_trusted(std::string_view text);

std::string local(const xmlNode* n);
bool is(const xmlNode* n, const char* ns, std::string_view name);
std::vector<xmlNode*> elements(const xmlNode* parent);
xmlNode* child(const xmlNode* parent, const char* ns, std::string_view name);
std::vector<xmlNode*> children(const xmlNode* parent, const char* ns, std::string_view name);
std::optional<std::string> attr(const xmlNode* n, const char* name);
std::string attr_or(const xmlNode* n, const char* name, std::string_view dflt = {});
std::string text(const xmlNode* n);
std::string child_text(const xmlNode* parent, const char* ns, std::string_view name);

std::string esc(std::string_view s);
// Serializes an element: types-namespace elements as t:, messages as m:, others with
// their own namespace declared inline. The caller declares xmlns:t / xmlns:m.
void write_canonical(const xmlNode* n, std::string& out);
std::string canonical(const xmlNode* n);

// The official schema, compiled once. Absent when the files are missing.
class Schemas {
 public:
  // Loads DIR/ews-envelope-validate.xsd (validation) and DIR/types.xsd (element
  // order of item types). Returns false (with a reason) when unavailable.
  bool load(const std::string& dir, std::string& why);
  bool loaded() const { return schema_ != nullptr; }
  // nullopt when valid.
  std::optional<XmlProblem> validate(xmlDoc* doc) const;
  // Child element order of an item element (Contact, Task, CalendarItem, Message,
  // Item, ...) as the schema defines it; empty when unknown.
  const std::vector<std::string>& order(const std::string& item_element) const;
  ~Schemas();

 private:
  void* schema_ = nullptr;  // xmlSchemaPtr
  std::vector<std::pair<std::string, std::vector<std::string>>> orders_;
};

}  // namespace ews_emulator
