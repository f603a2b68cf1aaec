// A namespace-resolved, read-only XML tree, built defensively from untrusted input, and a
// small writer. Pure header: the parser (tinyxml2) stays in xml.cpp.
#pragma once

#include "crmsync/model/text.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crmsync/model/result.hpp"

namespace crmsync::soap {

inline constexpr std::string_view kSoapEnvNs = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view kXsiNs = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr std::string_view kXmlNs = "http://www.w3.org/XML/1998/namespace";

struct QName {
  std::string ns;
  std::string local;
  bool is(std::string_view n, std::string_view l) const { return ns == n && local == l; }
  bool operator==(const QName&) const = default;
};

struct Attribute {
  std::string ns;  // "" for an unprefixed attribute
  std::string local;
  std::string value;
};

// prefix ("" = the default namespace) -> namespace URI, innermost declaration last.
using NamespaceScope = std::vector<std::pair<std::string, std::string>>;

class Element {
 public:
  const std::string& ns() const { return ns_; }
  const std::string& name() const { return name_; }  // the local name
  bool is(std::string_view ns, std::string_view local) const { return ns_ == ns && name_ == local; }
  // The concatenated text (and CDATA) directly inside this element.
  const std::string& text() const { return text_; }
  const std::vector<Element>& children() const { return children_; }
  const std::vector<Attribute>& attributes() const { return attributes_; }

  // The first child with that namespace and local name, or nullptr.
  const Element* child(std::string_view ns, std::string_view local) const;
  // The first child with that local name in any namespace (lenient reading), or nullptr.
  const Element* child_any_ns(std::string_view local) const;
  const std::string* attribute(std::string_view ns, std::string_view local) const;
  // Resolves "prefix:local" (or "local": default namespace) against the declarations in
  // scope here; nullopt when the prefix is not declared.
  std::optional<QName> resolve(std::string_view qname) const;
  // The resolved xsi:type, nullopt when absent; kInvalid when its prefix is undeclared.
  Result<std::optional<QName>> xsi_type() const;
  // xsi:nil="true".
  bool nil() const;

 private:
  friend class TreeBuilder;
  std::string ns_;
  std::string name_;
  std::string text_;
  std::vector<Attribute> attributes_;
  std::vector<Element> children_;
  std::shared_ptr<const NamespaceScope> scope_;
};

struct ParseLimits {
  std::size_t max_bytes = 64u << 20;
  int max_depth = 64;
};

// Parses a whole document into its root element. kInvalid (with the reason) for: more than
// max_bytes, invalid UTF-8, a DOCTYPE or entity declaration, malformed XML, nesting deeper
// than max_depth, an undeclared namespace prefix.
Result<Element> parse_xml(std::string_view xml, const ParseLimits& limits = {});

// True when every character may appear in XML 1.0 text (valid UTF-8, no control
// characters other than tab, line feed and carriage return).
bool is_xml_text(std::string_view text);

// Builds XML text; element names are written as given ("a:Entity").
class XmlWriter {
 public:
  XmlWriter& open(std::string_view qname);
  // Only directly after open().
  XmlWriter& attr(std::string_view name, std::string_view value);
  XmlWriter& text(std::string_view text);
  XmlWriter& close();
  // <qname>text</qname>
  XmlWriter& leaf(std::string_view qname, std::string_view text) {
    return open(qname).text(text).close();
  }
  // <qname i:nil="true"/> (the caller declares the i prefix).
  XmlWriter& nil(std::string_view qname) { return open(qname).attr("i:nil", "true").close(); }
  // Inserts already-formed XML.
  XmlWriter& raw(std::string_view xml);
  std::string take();

 private:
  void end_start_tag();
  std::string out_;
  std::vector<std::string> stack_;
  bool in_start_tag_ = false;
  bool has_content_ = false;
};

}  // namespace crmsync::soap
