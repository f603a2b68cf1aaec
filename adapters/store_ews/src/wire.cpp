// The codec's shared wire pieces: extended property URIs and values, defensive readers of the
// types namespace, the SOAP envelope and the distinguished folders.
#include "wire.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "crmsync/model/encoding.hpp"

namespace crmsync::ews {
namespace detail {

void write_ext_uri(XmlWriter& w, const Ext& e) {
  w.open("t:ExtendedFieldURI");
  if (!e.set.empty()) {
    w.attr("PropertySetId", e.set);
    if (!e.name.empty())
      w.attr("PropertyName", e.name);
    else
      w.attr("PropertyId", std::to_string(e.id));
  } else {
    w.attr("PropertyTag", e.tag);
  }
  w.attr("PropertyType", e.type);
  w.close();
}

void write_ext(XmlWriter& w, const Ext& e, std::string_view value) {
  w.open("t:ExtendedProperty");
  write_ext_uri(w, e);
  w.leaf("t:Value", value);
  w.close();
}

std::string folder_id_xml(Folder f) {
  return "<t:DistinguishedFolderId Id=\"" + std::string(distinguished_id(f)) + "\"/>";
}

std::string ext_uri_xml(const Ext& e) {
  XmlWriter w;
  write_ext_uri(w, e);
  return w.take();
}

const Element* tchild(const Element& e, std::string_view local) {
  return e.child(kTNs, local);
}
const Element* mchild(const Element& e, std::string_view local) {
  return e.child(kMNs, local);
}

std::string attr(const Element& e, std::string_view local) {
  const std::string* a = e.attribute("", local);
  return a ? *a : std::string();
}

std::optional<long> parse_tag(std::string_view t) {
  long v = 0;
  const char* b = t.data();
  const char* end = t.data() + t.size();
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    b += 2;
    base = 16;
  }
  auto [p, ec] = std::from_chars(b, end, v, base);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool ext_matches(const Element& uri, const Ext& e) {
  if (e.set.empty()) {
    auto mine = parse_tag(e.tag);
    auto theirs = parse_tag(attr(uri, "PropertyTag"));
    return mine && theirs && *mine == *theirs;
  }
  if (!iequal(attr(uri, "PropertySetId"), e.set)) return false;
  if (!e.name.empty()) return attr(uri, "PropertyName") == e.name;
  auto id = parse_tag(attr(uri, "PropertyId"));
  return id && *id == e.id;
}

const std::string* ext_value(const Element& item, const Ext& e) {
  for (const Element& c : item.children()) {
    if (!c.is(kTNs, "ExtendedProperty")) continue;
    const Element* uri = tchild(c, "ExtendedFieldURI");
    const Element* value = tchild(c, "Value");
    if (uri && value && ext_matches(*uri, e)) return &value->text();
  }
  return nullptr;
}

bool ext_flag(const Element& item, const Ext& e) {
  const std::string* v = ext_value(item, e);
  return v && (*v == "true" || *v == "1");
}

std::string trimmed(std::string_view s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace detail

std::string_view distinguished_id(Folder f) {
  switch (f) {
    case Folder::kContacts:
      return "contacts";
    case Folder::kTasks:
      return "tasks";
    case Folder::kCalendar:
      return "calendar";
    case Folder::kInbox:
      return "inbox";
    case Folder::kSentItems:
      return "sentitems";
    case Folder::kDrafts:
      return "drafts";
  }
  return "inbox";
}

std::vector<Folder> folders_of(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return {Folder::kContacts};
    case ItemKind::kTask:
      return {Folder::kTasks};
    case ItemKind::kAppointment:
      return {Folder::kCalendar};
    case ItemKind::kEmail:
      return {Folder::kInbox, Folder::kSentItems, Folder::kDrafts};
  }
  return {};
}

std::string envelope(std::string_view operation_xml, std::string_view impersonate) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:m=\"";
  out += kMNs;
  out += "\" xmlns:t=\"";
  out += kTNs;
  out += "\"><s:Header><t:RequestServerVersion Version=\"Exchange2010_SP2\"/>";
  if (!impersonate.empty())
    out += "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>" +
           xml_escape(impersonate) +
           "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>";
  out += "</s:Header><s:Body>";
  out += operation_xml;
  out += "</s:Body></s:Envelope>";
  return out;
}
}  // namespace crmsync::ews
