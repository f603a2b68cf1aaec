#include "xml_view.hpp"

#include "crmsync/model/text.hpp"

namespace crmsync::crm_soap {
namespace {

bool is_declaration(std::string_view name) {
  return name == "xmlns" || name.substr(0, 6) == "xmlns:";
}

std::string_view declared_prefix(std::string_view name) {
  return name == "xmlns" ? std::string_view{} : name.substr(6);
}

// soap::Element::resolve over `own`'s declarations (the last one first) and then `scope`.
std::optional<soap::QName> resolve_in(const tinyxml2::XMLElement* own, const NsScope* scope,
                                      std::string_view qname) {
  auto colon = qname.find(':');
  std::string_view prefix = colon == std::string_view::npos ? "" : qname.substr(0, colon);
  std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);
  if (local.empty()) return std::nullopt;
  if (prefix == "xml") return soap::QName{std::string(soap::kXmlNs), std::string(local)};
  std::optional<std::string_view> uri;
  if (own != nullptr)
    for (const auto* a = own->FirstAttribute(); a; a = a->Next())
      if (is_declaration(a->Name()) && declared_prefix(a->Name()) == prefix) uri = a->Value();
  for (const NsScope* s = scope; !uri && s != nullptr; s = s->outer)
    if (s->prefix == prefix) uri = s->uri;
  if (uri) {
    if (uri->empty() && !prefix.empty()) return std::nullopt;
    return soap::QName{std::string(*uri), std::string(local)};
  }
  if (prefix.empty()) return soap::QName{"", std::string(local)};
  return std::nullopt;
}

// The same answer as resolve_in without building strings: the namespace and the local name
// as views into the document (nullopt when undeclared).
std::optional<std::pair<std::string_view, std::string_view>> name_of(const tinyxml2::XMLElement& e,
                                                                     const NsScope* outer) {
  std::string_view qname = e.Name();
  auto colon = qname.find(':');
  std::string_view prefix = colon == std::string_view::npos ? "" : qname.substr(0, colon);
  std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);
  if (local.empty()) return std::nullopt;
  if (prefix == "xml") return std::pair{soap::kXmlNs, local};
  std::optional<std::string_view> uri;
  for (const auto* a = e.FirstAttribute(); a; a = a->Next())
    if (is_declaration(a->Name()) && declared_prefix(a->Name()) == prefix) uri = a->Value();
  for (const NsScope* s = outer; !uri && s != nullptr; s = s->outer)
    if (s->prefix == prefix) uri = s->uri;
  if (uri) {
    if (uri->empty() && !prefix.empty()) return std::nullopt;
    return std::pair{*uri, local};
  }
  if (prefix.empty()) return std::pair{std::string_view{}, local};
  return std::nullopt;
}

}  // namespace

std::string XmlView::text() const {
  std::string out;
  for (const auto* n = e_->FirstChild(); n; n = n->NextSibling())
    if (const auto* t = n->ToText()) out += t->Value();
  return out;
}

XmlView XmlView::view_of(const tinyxml2::XMLElement* child) const {
  const NsScope* scope = doc_->scope_of(*child, scope_);
  auto name = name_of(*child, scope_);  // resolves: the document was checked whole
  return XmlView(child, scope, name ? name->first : std::string_view{},
                 name ? name->second : std::string_view{}, doc_);
}

std::optional<XmlView> XmlView::child(std::string_view ns, std::string_view local) const {
  for (const auto* c = e_->FirstChildElement(); c; c = c->NextSiblingElement()) {
    auto name = name_of(*c, scope_);
    if (name && name->first == ns && name->second == local) return view_of(c);
  }
  return std::nullopt;
}

std::optional<XmlView> XmlView::child_any_ns(std::string_view local) const {
  for (const auto* c = e_->FirstChildElement(); c; c = c->NextSiblingElement()) {
    auto name = name_of(*c, scope_);
    if (name && name->second == local) return view_of(c);
  }
  return std::nullopt;
}

std::optional<std::string> XmlView::attribute(std::string_view ns, std::string_view local) const {
  for (const auto* a = e_->FirstAttribute(); a; a = a->Next()) {
    std::string_view n = a->Name();
    if (is_declaration(n)) continue;
    auto colon = n.find(':');
    if (colon == std::string_view::npos) {
      if (ns.empty() && n == local) return std::string(a->Value());
      continue;
    }
    auto q = resolve_in(nullptr, scope_, n);
    if (q && q->ns == ns && q->local == local) return std::string(a->Value());
  }
  return std::nullopt;
}

std::optional<soap::QName> XmlView::resolve(std::string_view qname) const {
  return resolve_in(nullptr, scope_, qname);
}

Result<std::optional<soap::QName>> XmlView::xsi_type() const {
  auto t = attribute(soap::kXsiNs, "type");
  if (!t) return std::optional<soap::QName>{};
  std::string_view v = *t;
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!v.empty() && space(v.front())) v.remove_prefix(1);
  while (!v.empty() && space(v.back())) v.remove_suffix(1);
  auto q = resolve(v);
  if (!q) return Error::Invalid("i:type \"" + *t + "\" uses an undeclared prefix");
  return std::optional<soap::QName>{std::move(*q)};
}

bool XmlView::nil() const {
  auto n = attribute(soap::kXsiNs, "nil");
  return n && (*n == "true" || *n == "1");
}

std::unique_ptr<ViewDocument> ViewDocument::open(std::string_view xml,
                                                 const soap::ParseLimits& limits) {
  // parse_xml's checks, in its order; a refusal here is a refusal there.
  if (xml.size() > limits.max_bytes || !is_valid_utf8(xml)) return nullptr;
  if (xml.find("<!DOCTYPE") != std::string_view::npos ||
      xml.find("<!ENTITY") != std::string_view::npos)
    return nullptr;
  std::unique_ptr<ViewDocument> d(new ViewDocument());
  if (d->doc_.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) return nullptr;
  for (const auto* node = d->doc_.FirstChild(); node; node = node->NextSibling())
    if (node->ToUnknown()) return nullptr;
  const tinyxml2::XMLElement* root = d->doc_.RootElement();
  if (root == nullptr || !d->check(*root, nullptr, 1, limits.max_depth)) return nullptr;
  d->scopes_.clear();  // check's scopes are rebuilt as views ask
  return d;
}

XmlView ViewDocument::root() {
  const tinyxml2::XMLElement* r = doc_.RootElement();
  const NsScope* scope = scope_of(*r, nullptr);
  auto name = name_of(*r, nullptr);
  return XmlView(r, scope, name ? name->first : std::string_view{},
                 name ? name->second : std::string_view{}, this);
}

const NsScope* ViewDocument::scope_of(const tinyxml2::XMLElement& e, const NsScope* outer) {
  const NsScope* scope = outer;
  for (const auto* a = e.FirstAttribute(); a; a = a->Next())
    if (is_declaration(a->Name()))
      scope = &scopes_.emplace_back(NsScope{declared_prefix(a->Name()), a->Value(), scope});
  return scope;
}

// What soap::TreeBuilder refuses, for every element: too deep, an undeclared prefix on the
// element or an attribute, an attribute or text that decodes to invalid UTF-8, a declaration.
bool ViewDocument::check(const tinyxml2::XMLElement& e, const NsScope* outer, int depth,
                         int max_depth) {
  if (depth > max_depth) return false;
  const NsScope* scope = scope_of(e, outer);
  if (!name_of(e, outer)) return false;
  for (const auto* a = e.FirstAttribute(); a; a = a->Next()) {
    std::string_view n = a->Name();
    if (is_declaration(n)) continue;
    if (n.find(':') != std::string_view::npos && !resolve_in(nullptr, scope, n)) return false;
    if (!is_valid_utf8(a->Value())) return false;
  }
  std::string joined;  // text split by elements is checked as Element::text() holds it
  int texts = 0;
  const char* only = nullptr;
  for (const auto* node = e.FirstChild(); node; node = node->NextSibling()) {
    if (const auto* t = node->ToText()) {
      if (texts++ == 0) {
        only = t->Value();
      } else {
        if (texts == 2) joined = only;
        joined += t->Value();
      }
    } else if (const auto* c = node->ToElement()) {
      if (!check(*c, scope, depth + 1, max_depth)) return false;
    } else if (node->ToUnknown()) {
      return false;
    }
  }
  if (texts == 1 && !is_valid_utf8(only)) return false;
  if (texts > 1 && !is_valid_utf8(joined)) return false;
  return true;
}

}  // namespace crmsync::crm_soap
