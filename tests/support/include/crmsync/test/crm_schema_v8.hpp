// The CRM 2015 (7.0) schema set of ../shared/reference/crm/xrm2011/xsd, copied into a scratch
// directory and given the members that Dynamics CRM 2015 Update 1 / 2016 (7.1, 8.0) added and
// that optimistic concurrency (SPEC U6) puts on the wire: Entity's KeyAttributes and
// RowVersion (DataContract order: Attributes, EntityState, FormattedValues, Id, KeyAttributes,
// LogicalName, RelatedEntities, RowVersion, as Microsoft's SDK 7.1 SOAP sample writes them) and
// the xrm/7.1 enum ConcurrencyBehavior (Default, IfRowVersionMatches, AlwaysOverwrite) that an
// UpdateRequest's ConcurrencyBehavior parameter names with i:type. The shared files are never
// changed; a patch that no longer finds its anchor throws (the reference moved on).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace crmsync::test {

inline constexpr const char* kXrm71Ns = "http://schemas.microsoft.com/xrm/7.1/Contracts";

namespace detail {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void rewrite(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::permissions(p, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// Inserts `what` after (or before) the first `anchor` in `text`; throws when it is missing.
inline void insert_at(std::string& text, const std::string& anchor, const std::string& what,
                      bool after, const std::string& file) {
  auto at = text.find(anchor);
  if (at == std::string::npos)
    throw std::runtime_error("crm_schema_v8: anchor not found in " + file + ": " + anchor);
  text.insert(after ? at + anchor.size() : at, what);
}

}  // namespace detail

// Writes the patched set into `dir` (which must exist) and returns its envelope wrapper.
inline std::filesystem::path write_crm_schema_v8(const std::filesystem::path& reference,
                                                 const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path src = reference / "crm/xrm2011/xsd";
  for (const auto& e : fs::directory_iterator(src))
    if (e.path().extension() == ".xsd")
      fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);

  const std::string import71 = std::string("\n  <xs:import namespace=\"") + kXrm71Ns +
                               "\" schemaLocation=\"xrm-71-contracts.xsd\"/>";
  {
    const fs::path f = dir / "xrm-2011-contracts.xsd";
    std::string t = detail::slurp(f);
    detail::insert_at(t, "schemaLocation=\"serialization.xsd\"/>", import71, true, f.string());
    const std::string entity = "<xs:complexType name=\"Entity\">";
    auto start = t.find(entity);
    if (start == std::string::npos)
      throw std::runtime_error("crm_schema_v8: no Entity type in " + f.string());
    std::string tail = t.substr(start);
    detail::insert_at(tail, "name=\"Id\" type=\"ser:guid\"/>",
                      std::string("\n      <xs:element minOccurs=\"0\" name=\"KeyAttributes\" "
                                  "nillable=\"true\" xmlns:q71=\"") +
                          kXrm71Ns + "\" type=\"q71:KeyAttributeCollection\"/>",
                      true, f.string());
    detail::insert_at(tail, "type=\"tns:RelatedEntityCollection\"/>",
                      "\n      <xs:element minOccurs=\"0\" name=\"RowVersion\" nillable=\"true\" "
                      "type=\"xs:string\"/>",
                      true, f.string());
    detail::rewrite(f, t.substr(0, start) + tail);
  }
  {
    const fs::path f = dir / "crm-envelope-validate.xsd";
    std::string t = detail::slurp(f);
    detail::insert_at(t, "schemaLocation=\"datacontract-microsoft-crm-sdk-messages.xsd\"/>",
                      import71, true, f.string());
    detail::rewrite(f, t);
  }
  std::ofstream(dir / "xrm-71-contracts.xsd", std::ios::binary)
      << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<!-- Scratch schema (crm_schema_v8.hpp): the xrm/7.1 types of the Dynamics SDK "
         "that optimistic concurrency uses. -->\n"
         "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xmlns:tns=\""
      << kXrm71Ns
      << "\" xmlns:gen=\"http://schemas.datacontract.org/2004/07/System.Collections.Generic\" "
         "elementFormDefault=\"qualified\" targetNamespace=\""
      << kXrm71Ns
      << "\">\n"
         "  <xs:import namespace=\"http://schemas.datacontract.org/2004/07/"
         "System.Collections.Generic\" schemaLocation=\"datacontract-system-collections-generic."
         "xsd\"/>\n"
         "  <xs:simpleType name=\"ConcurrencyBehavior\">\n"
         "    <xs:restriction base=\"xs:string\">\n"
         "      <xs:enumeration value=\"Default\"/>\n"
         "      <xs:enumeration value=\"IfRowVersionMatches\"/>\n"
         "      <xs:enumeration value=\"AlwaysOverwrite\"/>\n"
         "    </xs:restriction>\n"
         "  </xs:simpleType>\n"
         "  <xs:element name=\"ConcurrencyBehavior\" nillable=\"true\" "
         "type=\"tns:ConcurrencyBehavior\"/>\n"
         "  <xs:complexType name=\"KeyAttributeCollection\">\n"
         "    <xs:sequence>\n"
         "      <xs:element minOccurs=\"0\" maxOccurs=\"unbounded\" "
         "name=\"KeyValuePairOfstringanyType\" type=\"gen:KeyValuePairOfstringanyType\"/>\n"
         "    </xs:sequence>\n"
         "  </xs:complexType>\n"
         "  <xs:element name=\"KeyAttributeCollection\" nillable=\"true\" "
         "type=\"tns:KeyAttributeCollection\"/>\n"
         "</xs:schema>\n";
  return dir / "crm-envelope-validate.xsd";
}

}  // namespace crmsync::test
