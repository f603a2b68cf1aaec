#include "crmsync/soap/xml.hpp"

#include <tinyxml2.h>

#include <cstring>
#include <string>

namespace crmsync::soap {

const Element* Element::child(std::string_view ns, std::string_view local) const {
  for (const auto& c : children_)
    if (c.ns_ == ns && c.name_ == local) return &c;
  return nullptr;
}

const Element* Element::child_any_ns(std::string_view local) const {
  for (const auto& c : children_)
    if (c.name_ == local) return &c;
  return nullptr;
}

const std::string* Element::attribute(std::string_view ns, std::string_view local) const {
  for (const auto& a : attributes_)
    if (a.ns == ns && a.local == local) return &a.value;
  return nullptr;
}

std::optional<QName> Element::resolve(std::string_view qname) const {
  auto colon = qname.find(':');
  std::string_view prefix = colon == std::string_view::npos ? "" : qname.substr(0, colon);
  std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);
  if (local.empty()) return std::nullopt;
  if (prefix == "xml") return QName{std::string(kXmlNs), std::string(local)};
  if (scope_) {
    for (auto it = scope_->rbegin(); it != scope_->rend(); ++it)
      if (it->first == prefix) {
        if (it->second.empty() && !prefix.empty()) return std::nullopt;
        return QName{it->second, std::string(local)};
      }
  }
  if (prefix.empty()) return QName{"", std::string(local)};
  return std::nullopt;
}

Result<std::optional<QName>> Element::xsi_type() const {
  const std::string* t = attribute(kXsiNs, "type");
  if (!t) return std::optional<QName>{};
  // Trim XML whitespace around the QName.
  std::string_view v = *t;
  while (!v.empty() &&
         (v.front() == ' ' || v.front() == '\t' || v.front() == '\n' || v.front() == '\r'))
    v.remove_prefix(1);
  while (!v.empty() &&
         (v.back() == ' ' || v.back() == '\t' || v.back() == '\n' || v.back() == '\r'))
    v.remove_suffix(1);
  auto q = resolve(v);
  if (!q)
    return Error::Invalid("i:type \"" + *t + "\" on <" + name_ + "> uses an undeclared prefix");
  return std::optional<QName>{std::move(*q)};
}

bool Element::nil() const {
  const std::string* n = attribute(kXsiNs, "nil");
  return n && (*n == "true" || *n == "1");
}

bool is_xml_text(std::string_view s) {
  if (!is_valid_utf8(s)) return false;
  for (unsigned char c : s)
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
  // U+FFFE and U+FFFF are not XML characters either.
  return s.find("\xEF\xBF\xBE") == std::string_view::npos &&
         s.find("\xEF\xBF\xBF") == std::string_view::npos;
}

class TreeBuilder {
 public:
  explicit TreeBuilder(int max_depth) : max_depth_(max_depth) {}

  Result<Element> build(const tinyxml2::XMLElement& xe,
                        const std::shared_ptr<const NamespaceScope>& parent, int depth) {
    if (depth > max_depth_)
      return Error::Invalid("XML nested deeper than " + std::to_string(max_depth_) + " levels");
    Element e;
    // Namespace declarations first: they apply to this element's own name.
    std::shared_ptr<NamespaceScope> own;
    for (const auto* a = xe.FirstAttribute(); a; a = a->Next()) {
      std::string_view n = a->Name();
      if (n == "xmlns" || n.substr(0, 6) == "xmlns:") {
        if (!own) own = std::make_shared<NamespaceScope>(parent ? *parent : NamespaceScope{});
        own->emplace_back(n == "xmlns" ? std::string{} : std::string(n.substr(6)), a->Value());
      }
    }
    e.scope_ = own ? std::shared_ptr<const NamespaceScope>(own) : parent;
    std::string_view qn = xe.Name();
    auto q = e.resolve(qn);
    if (!q) return Error::Invalid("element <" + std::string(qn) + "> uses an undeclared prefix");
    e.ns_ = std::move(q->ns);
    e.name_ = std::move(q->local);
    for (const auto* a = xe.FirstAttribute(); a; a = a->Next()) {
      std::string_view n = a->Name();
      if (n == "xmlns" || n.substr(0, 6) == "xmlns:") continue;
      Attribute attr;
      auto colon = n.find(':');
      if (colon == std::string_view::npos) {
        attr.local = std::string(n);
      } else {
        auto aq = e.resolve(n);
        if (!aq)
          return Error::Invalid("attribute " + std::string(n) + " uses an undeclared prefix");
        attr.ns = std::move(aq->ns);
        attr.local = std::move(aq->local);
      }
      attr.value = a->Value();
      // The document is valid UTF-8, but a character reference (&#xD800;) may not be.
      if (!is_valid_utf8(attr.value))
        return Error::Invalid("attribute " + std::string(n) + " holds a reference to no character");
      e.attributes_.push_back(std::move(attr));
    }
    for (const auto* node = xe.FirstChild(); node; node = node->NextSibling()) {
      if (const auto* t = node->ToText()) {
        e.text_ += t->Value();
      } else if (const auto* c = node->ToElement()) {
        auto child = build(*c, e.scope_, depth + 1);
        if (!child.ok()) return child.error();
        e.children_.push_back(std::move(child.value()));
      } else if (node->ToUnknown()) {
        return Error::Invalid("XML holds a declaration that is not accepted");
      }
    }
    if (!is_valid_utf8(e.text_))
      return Error::Invalid("text of <" + e.name_ + "> holds a reference to no character");
    return e;
  }

 private:
  int max_depth_;
};

Result<Element> parse_xml(std::string_view xml, const ParseLimits& limits) {
  if (xml.size() > limits.max_bytes)
    return Error::Invalid("XML document larger than " + std::to_string(limits.max_bytes) +
                          " bytes");
  if (!is_valid_utf8(xml)) return Error::Invalid("XML document is not valid UTF-8");
  if (xml.find("<!DOCTYPE") != std::string_view::npos ||
      xml.find("<!ENTITY") != std::string_view::npos)
    return Error::Invalid("XML with a DOCTYPE or entity declaration is not accepted");
  tinyxml2::XMLDocument doc(true, tinyxml2::PRESERVE_WHITESPACE);
  if (auto rc = doc.Parse(xml.data(), xml.size()); rc == tinyxml2::XML_ELEMENT_DEPTH_EXCEEDED) {
    return Error::Invalid("XML nested deeper than " + std::to_string(limits.max_depth) + " levels");
  } else if (rc != tinyxml2::XML_SUCCESS) {
    const char* why = doc.ErrorStr();
    return Error::Invalid(std::string("malformed XML: ") + (why ? why : "parse error"));
  }
  for (const auto* node = doc.FirstChild(); node; node = node->NextSibling())
    if (node->ToUnknown()) return Error::Invalid("XML holds a declaration that is not accepted");
  const tinyxml2::XMLElement* root = doc.RootElement();
  if (!root) return Error::Invalid("XML document has no root element");
  TreeBuilder builder(limits.max_depth);
  return builder.build(*root, nullptr, 1);
}

}  // namespace crmsync::soap
