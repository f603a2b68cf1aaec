#include "crmsync/core/original_state.hpp"

#include "crmsync/model/encoding.hpp"
#include "crmsync/model/text.hpp"

#include <tinyxml2.h>

#include <charconv>
#include <string>

namespace crmsync {
namespace {

using tinyxml2::XMLDocument;
using tinyxml2::XMLElement;
using tinyxml2::XMLPrinter;

constexpr int kFormatVersion = 1;

// XML 1.0 cannot carry most control characters, and parsers normalise CR; text that
// holds any of them is written base64-encoded so that the round trip stays exact.
bool needs_encoding(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 && c != '\n' && c != '\t') return true;
  // Leading/trailing whitespace survives tinyxml2's PRESERVE_WHITESPACE, but a value that
  // is only whitespace or starts with one would be fragile in other readers: encode it.
  return !s.empty() && (s.front() == ' ' || s.back() == ' ' || s.front() == '\n' ||
                        s.back() == '\n' || s.front() == '\t' || s.back() == '\t');
}

// XMLPrinter writes control characters in attribute values as they are, and parsers turn a
// raw CR into LF (some also turn tab and LF into spaces). This printer writes them as
// character references, which read back as the same bytes.
class Printer final : public XMLPrinter {
 public:
  Printer() : XMLPrinter(nullptr, /*compact=*/true) {}

  void attribute(const char* name, std::string_view value) {
    bool plain = true;
    for (unsigned char c : value) plain = plain && c >= 0x20;
    if (plain) {
      PushAttribute(name, std::string(value).c_str());
      return;
    }
    std::string out = std::string(" ") + name + "=\"" + xml_escape(value, XmlControls::kAll);
    out += '"';
    Write(out.data(), out.size());
  }
};

void write_text(XMLPrinter& p, std::string_view s) {
  if (needs_encoding(s)) {
    p.PushAttribute("enc", "b64");
    p.PushText(base64_encode(s).c_str());
  } else {
    p.PushText(std::string(s).c_str());
  }
}

void write_ref(Printer& p, const EntityRef& r) {
  p.attribute("entity", r.entity);
  p.attribute("id", r.id.str());
  if (!r.name.empty()) p.attribute("name", r.name);
}

void write_value(Printer& p, const std::string& name, const Value& v) {
  p.OpenElement("f", true);
  p.attribute("n", name);
  p.attribute("t", type_name(v));
  struct Visitor {
    Printer& p;
    void operator()(std::monostate) const {}
    void operator()(const std::string& s) const { write_text(p, s); }
    void operator()(std::int64_t i) const { p.PushText(std::to_string(i).c_str()); }
    void operator()(bool b) const { p.PushText(b ? "true" : "false"); }
    void operator()(UtcTime t) const { p.PushText(std::to_string(t.ms).c_str()); }
    void operator()(Date d) const { p.PushText(d.iso().c_str()); }
    void operator()(const EntityRef& r) const { write_ref(p, r); }
    void operator()(const PartyList& parties) const {
      for (const auto& party : parties) {
        p.OpenElement("party", true);
        if (!party.address.empty()) p.attribute("address", party.address);
        if (!party.name.empty()) p.attribute("name", party.name);
        if (party.ref) {
          p.attribute("entity", party.ref->entity);
          p.attribute("id", party.ref->id.str());
        }
        p.CloseElement(true);
      }
    }
  };
  std::visit(Visitor{p}, v);
  p.CloseElement(true);
}

Result<std::int64_t> parse_int(std::string_view s, std::string_view field) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty())
    return Error::Invalid("original state: field '" + std::string(field) + "': not an integer");
  return v;
}

Result<EntityRef> read_ref(const XMLElement& e, std::string_view field) {
  const char* entity = e.Attribute("entity");
  const char* id = e.Attribute("id");
  if (entity == nullptr || id == nullptr)
    return Error::Invalid("original state: field '" + std::string(field) +
                          "': reference lacks entity or id");
  auto cid = CrmId::parse(id);
  if (!cid.ok()) return cid.error().context("original state");
  const char* name = e.Attribute("name");
  return EntityRef{entity, *cid, name ? name : ""};
}

Result<Value> read_value(const XMLElement& f, std::string_view name) {
  std::string_view type = f.Attribute("t") ? f.Attribute("t") : "";
  const char* raw = f.GetText();
  std::string_view text = raw ? raw : "";
  auto bad = [&](std::string_view why) {
    return Error::Invalid("original state: field '" + std::string(name) + "': " + std::string(why));
  };
  if (type != "parties" && f.FirstChildElement() != nullptr) return bad("unexpected child element");
  if (type == "null") return Value{};
  if (type == "text") {
    if (const char* enc = f.Attribute("enc")) {
      if (std::string_view(enc) != "b64") return bad("unknown encoding");
      if (text.size() % 4 != 0) return Error::Invalid("original state: bad base64 length");
      auto d = base64_decode(text);
      if (!d) return Error::Invalid("original state: bad base64");
      if (!is_valid_utf8(*d)) return bad("invalid UTF-8");
      return Value{std::move(*d)};
    }
    return Value{std::string(text)};
  }
  if (type == "integer") {
    auto v = parse_int(text, name);
    if (!v.ok()) return v.error();
    return Value{*v};
  }
  if (type == "bool") {
    if (text == "true") return Value{true};
    if (text == "false") return Value{false};
    return bad("not a bool");
  }
  if (type == "time") {
    auto v = parse_int(text, name);
    if (!v.ok()) return v.error();
    return Value{UtcTime{*v}};
  }
  if (type == "date") {
    auto d = Date::parse(text);
    if (!d.ok()) return d.error().context("original state");
    return Value{*d};
  }
  if (type == "reference") {
    auto r = read_ref(f, name);
    if (!r.ok()) return r.error();
    return Value{*r};
  }
  if (type == "parties") {
    if (!text.empty()) return bad("text inside a party list");
    PartyList parties;
    for (const XMLElement* p = f.FirstChildElement(); p; p = p->NextSiblingElement()) {
      if (std::string_view(p->Name()) != "party" || p->FirstChild() != nullptr)
        return bad("unexpected element in a party list");
      Party party;
      if (const char* a = p->Attribute("address")) party.address = a;
      if (const char* n = p->Attribute("name")) party.name = n;
      if (p->Attribute("id") != nullptr) {
        auto r = read_ref(*p, name);
        if (!r.ok()) return r.error();
        party.ref = *r;
      }
      parties.push_back(std::move(party));
    }
    return Value{std::move(parties)};
  }
  return bad("unknown type '" + std::string(type.substr(0, 32)) + "'");
}

// Every text a value holds, names and addresses included, is valid UTF-8.
bool valid_utf8_text(const Value& v) {
  auto ref_ok = [](const EntityRef& r) { return is_valid_utf8(r.entity) && is_valid_utf8(r.name); };
  if (const auto* s = std::get_if<std::string>(&v)) return is_valid_utf8(*s);
  if (const auto* r = std::get_if<EntityRef>(&v)) return ref_ok(*r);
  if (const auto* parties = std::get_if<PartyList>(&v)) {
    for (const auto& p : *parties)
      if (!is_valid_utf8(p.address) || !is_valid_utf8(p.name) || (p.ref && !ref_ok(*p.ref)))
        return false;
  }
  return true;
}

}  // namespace

std::string serialize_fields(const FieldMap& fields) {
  Printer p;
  p.OpenElement("state", true);
  p.PushAttribute("v", kFormatVersion);
  for (const auto& [name, value] : fields) write_value(p, name, value);
  p.CloseElement(true);
  return std::string(p.CStr(), p.CStrSize() - 1);
}

Result<FieldMap> parse_fields(std::string_view xml) {
  if (xml.size() > kMaxOriginalStateBytes)
    return Error::Invalid("original state: " + std::to_string(xml.size()) +
                          " bytes is over the limit");
  if (!is_valid_utf8(xml)) return Error::Invalid("original state: invalid UTF-8");
  // No DTDs: no entity expansion tricks, whatever the parser would do with them.
  if (xml.find("<!") != std::string_view::npos || xml.find("<?") != std::string_view::npos)
    return Error::Invalid("original state: declarations, DOCTYPE or CDATA are not allowed");
  XMLDocument doc(/*processEntities=*/true, tinyxml2::PRESERVE_WHITESPACE);
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS)
    return Error::Invalid(std::string("original state: malformed XML: ") + doc.ErrorStr());
  const XMLElement* root = doc.RootElement();
  if (root == nullptr || std::string_view(root->Name()) != "state" ||
      root->IntAttribute("v", -1) != kFormatVersion)
    return Error::Invalid("original state: not a version 1 <state> document");
  FieldMap out;
  for (const XMLElement* f = root->FirstChildElement(); f; f = f->NextSiblingElement()) {
    if (std::string_view(f->Name()) != "f" || f->Attribute("n") == nullptr)
      return Error::Invalid("original state: unexpected element <" +
                            std::string(std::string_view(f->Name()).substr(0, 32)) + ">");
    std::string name = f->Attribute("n");
    // The document is valid UTF-8, but a character reference (&#xD800;) may not be.
    if (!is_valid_utf8(name))
      return Error::Invalid("original state: a field name is not valid UTF-8");
    auto v = read_value(*f, name);
    if (!v.ok()) return v.error();
    if (!valid_utf8_text(*v))
      return Error::Invalid("original state: field '" + name + "': invalid UTF-8");
    if (!out.emplace(name, std::move(*v)).second)
      return Error::Invalid("original state: field '" + name + "' appears twice");
  }
  return out;
}

}  // namespace crmsync
