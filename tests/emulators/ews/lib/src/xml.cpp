#include "xml.hpp"

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include <cstring>
#include <functional>
#include <map>

namespace ews_emulator {

namespace {
const char* s(const xmlChar* x) {
  return reinterpret_cast<const char*>(x);
}
const xmlChar* x(const char* c) {
  return reinterpret_cast<const xmlChar*>(c);
}

void silent(void*, const char*, ...) {}

struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

std::string trim(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}
}  // namespace

DocPtr parse_untrusted(std::string_view text, XmlProblem& problem) {
  // A DTD is refused outright, as .NET's XmlReader (DtdProcessing.Prohibit) does.
  if (text.find("<!DOCTYPE") != std::string_view::npos ||
      text.find("<!ENTITY") != std::string_view::npos) {
    problem = {"For security reasons DTD is prohibited in this XML document.", 1, 1};
    auto pos = text.find("<!");
    for (std::size_t i = 0; i < pos && i < text.size(); ++i)
      if (text[i] == '\n') ++problem.line;
    return nullptr;
  }
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) {
    problem = {"out of memory", 0, 0};
    return nullptr;
  }
  xmlSetGenericErrorFunc(nullptr, silent);
  int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
  DocPtr doc(xmlCtxtReadMemory(ctxt.get(), text.data(), static_cast<int>(text.size()),
                               "request.xml", nullptr, opts));
  if (!doc || !ctxt->wellFormed) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    problem.message = e && e->message ? trim(e->message) : "The XML is not well-formed.";
    problem.line = e ? e->line : 0;
    problem.column = e ? e->int2 : 0;
    return nullptr;
  }
  if (doc->intSubset || doc->extSubset) {
    problem = {"For security reasons DTD is prohibited in this XML document.", 1, 1};
    return nullptr;
  }
  return doc;
}

DocPtr parse_trusted(std::string_view text) {
  xmlSetGenericErrorFunc(nullptr, silent);
  return DocPtr(xmlReadMemory(text.data(), static_cast<int>(text.size()), "stored.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
}

std::string local(const xmlNode* n) {
  return n && n->name ? s(n->name) : "";
}

bool is(const xmlNode* n, const char* ns, std::string_view name) {
  if (!n || n->type != XML_ELEMENT_NODE || local(n) != name) return false;
  if (!ns) return true;
  return n->ns && n->ns->href && std::strcmp(s(n->ns->href), ns) == 0;
}

std::vector<xmlNode*> elements(const xmlNode* parent) {
  std::vector<xmlNode*> out;
  if (!parent) return out;
  for (xmlNode* c = parent->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  return out;
}

xmlNode* child(const xmlNode* parent, const char* ns, std::string_view name) {
  if (!parent) return nullptr;
  for (xmlNode* c = parent->children; c; c = c->next)
    if (is(c, ns, name)) return c;
  return nullptr;
}

std::vector<xmlNode*> children(const xmlNode* parent, const char* ns, std::string_view name) {
  std::vector<xmlNode*> out;
  if (!parent) return out;
  for (xmlNode* c = parent->children; c; c = c->next)
    if (is(c, ns, name)) out.push_back(c);
  return out;
}

std::optional<std::string> attr(const xmlNode* n, const char* name) {
  if (!n) return std::nullopt;
  xmlChar* v = xmlGetNoNsProp(const_cast<xmlNode*>(n), x(name));
  if (!v) return std::nullopt;
  std::string out = s(v);
  xmlFree(v);
  return out;
}

std::string attr_or(const xmlNode* n, const char* name, std::string_view dflt) {
  auto v = attr(n, name);
  return v ? *v : std::string(dflt);
}

std::string text(const xmlNode* n) {
  if (!n) return {};
  xmlChar* c = xmlNodeGetContent(n);
  if (!c) return {};
  std::string out = s(c);
  xmlFree(c);
  return out;
}

std::string child_text(const xmlNode* parent, const char* ns, std::string_view name) {
  return text(child(parent, ns, name));
}

std::string esc(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
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

void write_canonical(const xmlNode* n, std::string& out) {
  if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
    out += esc(s(n->content));
    return;
  }
  if (n->type != XML_ELEMENT_NODE) return;
  std::string name;
  std::string decl;
  if (n->ns && n->ns->href) {
    std::string href = s(n->ns->href);
    if (href == kTNs) {
      name = "t:";
    } else if (href == kMNs) {
      name = "m:";
    } else {
      name = "x:";
      decl = " xmlns:x=\"" + esc(href) + "\"";
    }
  }
  name += s(n->name);
  out += '<';
  out += name;
  out += decl;
  for (xmlAttr* a = n->properties; a; a = a->next) {
    out += ' ';
    if (a->ns && a->ns->prefix && std::strcmp(s(a->ns->prefix), "xml") == 0) out += "xml:";
    out += s(a->name);
    out += "=\"";
    xmlChar* v = xmlNodeListGetString(n->doc, a->children, 1);
    if (v) {
      out += esc(s(v));
      xmlFree(v);
    }
    out += '"';
  }
  if (!n->children) {
    out += "/>";
    return;
  }
  out += '>';
  // Whitespace between child elements is layout, not content: drop it.
  bool element_only = false;
  for (xmlNode* c = n->children; c; c = c->next) element_only |= c->type == XML_ELEMENT_NODE;
  for (xmlNode* c = n->children; c; c = c->next) {
    if (element_only && c->type == XML_TEXT_NODE && xmlIsBlankNode(c)) continue;
    write_canonical(c, out);
  }
  out += "</" + name + ">";
}

std::string canonical(const xmlNode* n) {
  std::string out;
  write_canonical(n, out);
  return out;
}

// ------------------------------------------------------------------ schemas

namespace {

struct Collector {
  std::optional<XmlProblem> first;
};

void structured(void* data, xmlErrorPtr e) {
  auto* c = static_cast<Collector*>(data);
  if (c->first || !e) return;
  c->first = XmlProblem{e->message ? trim(e->message) : "invalid", e->line, e->int2};
}

}  // namespace

Schemas::~Schemas() {
  if (schema_) xmlSchemaFree(static_cast<xmlSchemaPtr>(schema_));
}

bool Schemas::load(const std::string& dir, std::string& why) {
  std::string wrapper = dir + "/ews-envelope-validate.xsd";
  std::string types = dir + "/types.xsd";
  FILE* f = std::fopen(wrapper.c_str(), "rb");
  if (!f) {
    why = wrapper + " not found";
    return false;
  }
  std::fclose(f);
  xmlSetGenericErrorFunc(nullptr, silent);
  xmlSchemaParserCtxtPtr pctxt = xmlSchemaNewParserCtxt(wrapper.c_str());
  Collector col;
  xmlSchemaSetParserStructuredErrors(pctxt, structured, &col);
  xmlSchemaPtr schema = xmlSchemaParse(pctxt);
  xmlSchemaFreeParserCtxt(pctxt);
  if (!schema) {
    why = "cannot compile " + wrapper + (col.first ? ": " + col.first->message : "");
    return false;
  }
  schema_ = schema;

  // Element order of the item types, read from types.xsd.
  DocPtr doc(xmlReadFile(types.c_str(), nullptr, XML_PARSE_NONET | XML_PARSE_NOERROR));
  if (!doc) return true;
  const char* xs = "http://www.w3.org/2001/XMLSchema";
  std::map<std::string, xmlNode*> complex;
  for (xmlNode* n : elements(xmlDocGetRootElement(doc.get())))
    if (is(n, xs, "complexType") && attr(n, "name")) complex[*attr(n, "name")] = n;
  std::function<void(const xmlNode*, std::vector<std::string>&)> collect =
      [&](const xmlNode* n, std::vector<std::string>& out) {
        for (xmlNode* c : elements(n)) {
          if (is(c, xs, "element") && attr(c, "name")) {
            out.push_back(*attr(c, "name"));
          } else if (is(c, xs, "sequence") || is(c, xs, "choice")) {
            collect(c, out);
          } else if (is(c, xs, "complexContent")) {
            for (xmlNode* ext : elements(c)) {
              if (!is(ext, xs, "extension")) continue;
              std::string base = attr_or(ext, "base");
              if (auto colon = base.find(':'); colon != std::string::npos)
                base = base.substr(colon + 1);
              if (complex.count(base)) collect(complex[base], out);
              collect(ext, out);
            }
          }
        }
      };
  auto items = complex.find("NonEmptyArrayOfAllItemsType");
  if (items == complex.end()) return true;
  std::vector<xmlNode*> stack{items->second};
  while (!stack.empty()) {
    xmlNode* n = stack.back();
    stack.pop_back();
    for (xmlNode* c : elements(n)) {
      if (is(c, xs, "element") && attr(c, "name") && attr(c, "type")) {
        std::string type = *attr(c, "type");
        if (auto colon = type.find(':'); colon != std::string::npos) type = type.substr(colon + 1);
        std::vector<std::string> order;
        if (complex.count(type)) collect(complex[type], order);
        orders_.emplace_back(*attr(c, "name"), std::move(order));
      } else {
        stack.push_back(c);
      }
    }
  }
  return true;
}

std::optional<XmlProblem> Schemas::validate(xmlDoc* doc) const {
  if (!schema_) return std::nullopt;
  xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(static_cast<xmlSchemaPtr>(schema_));
  Collector col;
  xmlSchemaSetValidStructuredErrors(v, structured, &col);
  int rc = xmlSchemaValidateDoc(v, doc);
  xmlSchemaFreeValidCtxt(v);
  if (rc == 0) return std::nullopt;
  if (!col.first) col.first = XmlProblem{"The request failed schema validation.", 0, 0};
  return col.first;
}

const std::vector<std::string>& Schemas::order(const std::string& item_element) const {
  static const std::vector<std::string> none;
  for (const auto& [name, order] : orders_)
    if (name == item_element) return order;
  return none;
}

}  // namespace ews_emulator
