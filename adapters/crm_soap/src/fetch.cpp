#include "fetch.hpp"

#include <tinyxml2.h>

namespace crmsync::crm_soap {
namespace {

using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;

constexpr std::size_t kMaxFetchXml = 256 * 1024;

void remove_children(XMLElement* parent, std::initializer_list<const char*> names) {
  for (XMLElement* c = parent->FirstChildElement(); c != nullptr;) {
    XMLElement* next = c->NextSiblingElement();
    for (const char* n : names)
      if (std::string_view(c->Name()) == n) {
        parent->DeleteChild(c);
        break;
      }
    c = next;
  }
}

}  // namespace

Result<std::string> sync_fetchxml(const std::string& fetchxml, const std::string& entity,
                                  const FetchPage& page) {
  if (fetchxml.size() > kMaxFetchXml)
    return Error::Invalid("the " + entity + " filter's FetchXML is over 256 KiB");
  // tinyxml2 neither reads DTDs nor expands declared entities; refuse them outright.
  if (fetchxml.find("<!DOCTYPE") != std::string::npos ||
      fetchxml.find("<!ENTITY") != std::string::npos)
    return Error::Invalid("the " + entity + " filter's FetchXML declares a DTD or an entity");
  XMLDocument doc;
  if (doc.Parse(fetchxml.data(), fetchxml.size()) != tinyxml2::XML_SUCCESS)
    return Error::Invalid("the " + entity + " filter's FetchXML is not well-formed: " +
                          std::string(doc.ErrorStr()).substr(0, 200));
  XMLElement* fetch = doc.RootElement();
  if (fetch == nullptr || std::string_view(fetch->Name()) != "fetch")
    return Error::Invalid("the " + entity + " filter's FetchXML has no <fetch> root");
  XMLElement* e = fetch->FirstChildElement("entity");
  if (e == nullptr || e->NextSiblingElement("entity") != nullptr)
    return Error::Invalid("the " + entity + " filter's FetchXML needs exactly one <entity>");
  const char* name = e->Attribute("name");
  if (name == nullptr || entity != name)
    return Error::Invalid("the " + entity + " filter queries " +
                          std::string(name ? name : "no entity").substr(0, 64));
  // Our columns and a stable order; the filter's own conditions and links stay as they are.
  remove_children(e, {"attribute", "all-attributes", "order"});
  XMLElement* anchor = e->FirstChildElement();
  auto insert = [&](XMLElement* child) {
    if (anchor)
      e->InsertFirstChild(child);
    else
      e->InsertEndChild(child);
  };
  XMLElement* order = doc.NewElement("order");
  order->SetAttribute("attribute", page.primary_key.c_str());
  insert(order);
  for (auto it = page.columns.rbegin(); it != page.columns.rend(); ++it) {
    XMLElement* a = doc.NewElement("attribute");
    a->SetAttribute("name", it->c_str());
    insert(a);
  }
  if (page.modified_since) {  // a second filter on the entity: FetchXML ANDs them
    XMLElement* f = doc.NewElement("filter");
    f->SetAttribute("type", "and");
    XMLElement* c = f->InsertNewChildElement("condition");
    c->SetAttribute("attribute", "modifiedon");
    c->SetAttribute("operator", "ge");
    c->SetAttribute("value", page.modified_since->iso().c_str());
    e->InsertEndChild(f);
  }
  for (const char* a : {"top", "page", "count", "paging-cookie", "aggregate"})
    fetch->DeleteAttribute(a);
  fetch->SetAttribute("mapping", "logical");
  fetch->SetAttribute("count", page.count);
  fetch->SetAttribute("page", page.page);
  if (!page.paging_cookie.empty()) fetch->SetAttribute("paging-cookie", page.paging_cookie.c_str());
  tinyxml2::XMLPrinter out(nullptr, /*compact=*/true);
  doc.Print(&out);
  return std::string(out.CStr(), static_cast<std::size_t>(out.CStrSize() - 1));
}

}  // namespace crmsync::crm_soap
