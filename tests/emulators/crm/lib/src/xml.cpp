#include "xml.hpp"

#include "model.hpp"

namespace crm_emulator::xml {

using tinyxml2::XMLElement;

std::string_view local_name(const XMLElement* e) {
  std::string_view n = e->Name();
  auto p = n.find(':');
  return p == std::string_view::npos ? n : n.substr(p + 1);
}

std::string lookup_ns(const XMLElement* e, std::string_view prefix) {
  if (prefix == "xml") return "http://www.w3.org/XML/1998/namespace";
  std::string attr = prefix.empty() ? std::string("xmlns") : "xmlns:" + std::string(prefix);
  for (const tinyxml2::XMLNode* n = e; n; n = n->Parent()) {
    const XMLElement* el = n->ToElement();
    if (!el) break;
    if (const char* v = el->Attribute(attr.c_str())) return v;
  }
  return {};
}

QName element_qname(const XMLElement* e) {
  std::string_view n = e->Name();
  auto p = n.find(':');
  if (p == std::string_view::npos) return {lookup_ns(e, ""), std::string(n)};
  return {lookup_ns(e, n.substr(0, p)), std::string(n.substr(p + 1))};
}

QName resolve(const XMLElement* e, std::string_view q) {
  while (!q.empty() && q.front() == ' ') q.remove_prefix(1);
  while (!q.empty() && q.back() == ' ') q.remove_suffix(1);
  auto p = q.find(':');
  std::string_view prefix = p == std::string_view::npos ? std::string_view() : q.substr(0, p);
  std::string_view local = p == std::string_view::npos ? q : q.substr(p + 1);
  std::string ns = lookup_ns(e, prefix);
  if (ns.empty() && !prefix.empty())
    throw Fault(err::kDeserialization, "The namespace prefix '" + std::string(prefix) +
                                           "' of type '" + std::string(q) + "' is not declared.");
  return {ns, std::string(local)};
}

const XMLElement* child(const XMLElement* e, std::string_view local) {
  if (!e) return nullptr;
  for (auto* c = e->FirstChildElement(); c; c = c->NextSiblingElement())
    if (local_name(c) == local) return c;
  return nullptr;
}

namespace {
const char* xsi_attr(const XMLElement* e, std::string_view local) {
  for (auto* a = e->FirstAttribute(); a; a = a->Next()) {
    std::string_view n = a->Name();
    auto p = n.find(':');
    if (p == std::string_view::npos || n.substr(p + 1) != local) continue;
    if (lookup_ns(e, n.substr(0, p)) == kXsi) return a->Value();
  }
  return nullptr;
}
}  // namespace

QName xsi_type(const XMLElement* e) {
  const char* v = xsi_attr(e, "type");
  if (!v) return {};
  return resolve(e, v);
}

bool is_nil(const XMLElement* e) {
  const char* v = xsi_attr(e, "nil");
  return v && (std::string_view(v) == "true" || std::string_view(v) == "1");
}

std::string text(const XMLElement* e) {
  if (!e) return {};
  const char* t = e->GetText();
  return t ? t : "";
}

std::string child_text(const XMLElement* e, std::string_view local) {
  return text(child(e, local));
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\r':
        out += "&#xD;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace crm_emulator::xml
