#include "items.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>

#include "util.hpp"

namespace ews_emulator {

namespace {

const std::set<std::string> kServerManaged = {"ItemId",
                                              "ParentFolderId",
                                              "DateTimeCreated",
                                              "LastModifiedTime",
                                              "LastModifiedName",
                                              "Size",
                                              "HasAttachments",
                                              "EffectiveRights",
                                              "ConversationId",
                                              "IsUnmodified",
                                              "IsSubmitted",
                                              "IsFromMe",
                                              "IsResend",
                                              "InstanceKey",
                                              "StoreEntryId",
                                              "WebClientReadFormQueryString",
                                              "WebClientEditFormQueryString",
                                              "Duration"};

// Indexed URIs and their container elements.
const std::map<std::string, std::string> kContainers = {
    {"contacts:EmailAddress", "EmailAddresses"},
    {"contacts:PhoneNumber", "PhoneNumbers"},
    {"contacts:ImAddress", "ImAddresses"},
    {"contacts:PhysicalAddress", "PhysicalAddresses"},
};

const std::vector<std::string> kAddressParts = {"Street", "City", "State", "CountryOrRegion",
                                                "PostalCode"};

std::string set_guid(const std::string& name) {
  static const std::map<std::string, std::string> known = {
      {"PublicStrings", "00020329-0000-0000-c000-000000000046"},
      {"Common", "00062008-0000-0000-c000-000000000046"},
      {"Address", "00062004-0000-0000-c000-000000000046"},
      {"Appointment", "00062002-0000-0000-c000-000000000046"},
      {"Task", "00062003-0000-0000-c000-000000000046"},
      {"Meeting", "6ed8da90-450b-101b-98da-00aa003f1305"},
      {"InternetHeaders", "00020386-0000-0000-c000-000000000046"},
  };
  auto it = known.find(name);
  return it != known.end() ? it->second : lower(name);
}

std::string ext_identity(const xmlNode* n) {
  if (auto tag = attr(n, "PropertyTag")) {
    long v = std::strtol(tag->c_str(), nullptr, tag->rfind("0x", 0) == 0 ? 16 : 10);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04lx", v);
    return std::string("tag:") + buf;
  }
  std::string set;
  if (auto d = attr(n, "DistinguishedPropertySetId")) set = set_guid(*d);
  if (auto g = attr(n, "PropertySetId")) set = lower(*g);
  if (auto name = attr(n, "PropertyName")) return set + ":name:" + *name;
  if (auto id = attr(n, "PropertyId")) return set + ":id:" + std::to_string(std::atol(id->c_str()));
  return set;
}

std::string ext_identity_of_field(const Field& f) {
  auto doc = parse_fragment(f.xml);
  if (!doc) return {};
  xmlNode* prop = elements(xmlDocGetRootElement(doc.get())).front();
  return ext_identity(child(prop, kTNs, "ExtendedFieldURI"));
}

// Entries of an indexed container as (Key, canonical entry) in order.
std::vector<std::pair<std::string, std::string>> entries_of(const Field* container) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!container) return out;
  auto doc = parse_fragment(container->xml);
  if (!doc) return out;
  xmlNode* c = elements(xmlDocGetRootElement(doc.get())).front();
  for (xmlNode* e : children(c, kTNs, "Entry")) out.emplace_back(attr_or(e, "Key"), canonical(e));
  return out;
}

std::string container_xml(const std::string& name,
                          const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out = "<t:" + name + ">";
  for (const auto& e : entries) out += e.second;
  return out + "</t:" + name + ">";
}

// Parts (Street, City, ...) of a physical-address entry.
std::map<std::string, std::string> address_parts(const std::string& entry_xml) {
  std::map<std::string, std::string> out;
  auto doc = parse_fragment(entry_xml);
  if (!doc) return out;
  xmlNode* e = elements(xmlDocGetRootElement(doc.get())).front();
  for (xmlNode* p : elements(e)) out[local(p)] = canonical(p);
  return out;
}

std::string address_entry(const std::string& key, const std::map<std::string, std::string>& p) {
  std::string out = "<t:Entry Key=\"" + esc(key) + "\">";
  for (const auto& part : kAddressParts)
    if (auto it = p.find(part); it != p.end()) out += it->second;
  return out + "</t:Entry>";
}

// Exchange keeps times as UTC and returns them with a Z suffix and whole seconds:
// an xs:dateTime leaf with an offset is converted ("...T00:00:00+01:00" comes back
// as the previous day 23:00:00Z); one without an offset is taken as UTC
// (TimeZoneContext is not modelled). Free-text leaves are left alone.
std::optional<std::string> utc_time(const std::string& v) {
  int Y, M, D, h, m, sec;
  char rest[32] = {0};
  if (v.size() < 19 || v.size() > 40 || v[4] != '-' || v[10] != 'T') return std::nullopt;
  if (std::sscanf(v.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%31s", &Y, &M, &D, &h, &m, &sec, rest) < 6)
    return std::nullopt;
  std::string tail = rest;
  if (!tail.empty() && tail[0] == '.') {
    std::size_t i = 1;
    while (i < tail.size() && std::isdigit(static_cast<unsigned char>(tail[i]))) ++i;
    tail = tail.substr(i);
  }
  int offset = 0;
  if (tail == "Z" || tail.empty()) {
    offset = 0;
  } else if (tail.size() == 6 && (tail[0] == '+' || tail[0] == '-') && tail[3] == ':') {
    offset = (std::atoi(tail.substr(1, 2).c_str()) * 60 + std::atoi(tail.substr(4, 2).c_str())) *
             (tail[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  return format_utc_seconds(utc_seconds(Y, M, D, h, m, sec) - offset * 60);
}

// Exchange returns xs:boolean values canonically ("1" sent comes back "true"; clients such as
// exchangelib read only the canonical forms). Its boolean fields are named Is*, Has*, or one of
// these.
bool boolean_field(const std::string& name) {
  static const std::set<std::string> others = {"ReminderIsSet", "AllowNewTimeProposal",
                                               "MeetingRequestWasSent"};
  return name.rfind("Is", 0) == 0 || name.rfind("Has", 0) == 0 || others.count(name);
}

void normalize_booleans(xmlNode* item) {
  for (xmlNode* c : elements(item)) {
    if (!elements(c).empty() || !boolean_field(local(c))) continue;
    const std::string v = text(c);
    if (v == "1" || v == "0")
      xmlNodeSetContent(c, reinterpret_cast<const xmlChar*>(v == "1" ? "true" : "false"));
  }
}

void normalize_times(xmlNode* n) {
  static const std::set<std::string> free_text = {"Subject",
                                                  "Body",
                                                  "Location",
                                                  "DisplayName",
                                                  "FileAs",
                                                  "Value",
                                                  "Values",
                                                  "String",
                                                  "Entry",
                                                  "Notes",
                                                  "InternetMessageId",
                                                  "ExtendedProperty",
                                                  "Categories",
                                                  "Name"};
  for (xmlNode* c : elements(n)) {
    if (free_text.count(local(c))) continue;
    if (elements(c).empty()) {
      if (auto t = utc_time(text(c)); t && *t != text(c))
        xmlNodeSetContent(c, reinterpret_cast<const xmlChar*>(t->c_str()));
    } else {
      normalize_times(c);
    }
  }
}

// The one field element inside an update's item element.
const xmlNode* single_field(const xmlNode* value) {
  auto fields = elements(value);
  if (fields.size() != 1)
    throw ItemError{"ErrorIncorrectUpdatePropertyCount",
                    "An object within a change description must contain one and only one "
                    "property to modify."};
  return fields.front();
}

void check_kind(const ItemData& item, const xmlNode* value) {
  std::string k = local(value);
  if (k != item.kind && k != "Item")
    throw ItemError{
        "ErrorInvalidPropertySet",
        "The item type " + k + " does not match the stored item type " + item.kind + "."};
}

}  // namespace

const Field* ItemData::find(const std::string& name) const {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

void ItemData::set(const std::string& name, const std::string& xml) {
  for (auto& f : fields)
    if (f.name == name) {
      f.xml = xml;
      return;
    }
  fields.push_back({name, xml});
}

void ItemData::erase(const std::string& name) {
  fields.erase(
      std::remove_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == name; }),
      fields.end());
}

std::string Path::key() const {
  switch (kind) {
    case kField:
      return name;
    case kIndexed:
      return name + "/" + index + (part.empty() ? "" : "/" + part);
    case kExtended:
      return "ext:" + ext;
  }
  return name;
}

std::optional<Path> parse_path(const xmlNode* n) {
  Path p;
  if (is(n, kTNs, "FieldURI")) {
    p.kind = Path::kField;
    p.uri = attr_or(n, "FieldURI");
    p.name = p.uri.substr(p.uri.rfind(':') + 1);
    return p;
  }
  if (is(n, kTNs, "IndexedFieldURI")) {
    p.kind = Path::kIndexed;
    p.uri = attr_or(n, "FieldURI");
    p.index = attr_or(n, "FieldIndex");
    std::string base = p.uri;
    if (base.rfind("contacts:PhysicalAddress:", 0) == 0) {
      p.part = base.substr(base.rfind(':') + 1);
      base = "contacts:PhysicalAddress";
    }
    auto it = kContainers.find(base);
    p.name = it != kContainers.end() ? it->second : base.substr(base.rfind(':') + 1);
    return p;
  }
  if (is(n, kTNs, "ExtendedFieldURI")) {
    p.kind = Path::kExtended;
    p.name = "ExtendedProperty";
    p.ext = ext_identity(n);
    return p;
  }
  return std::nullopt;
}

DocPtr parse_fragment(const std::string& xml) {
  return parse_trusted(std::string("<w xmlns:t=\"") + kTNs + "\" xmlns:m=\"" + kMNs + "\">" + xml +
                       "</w>");
}

ItemData load_item(const std::string& stored) {
  ItemData item;
  auto doc = parse_trusted(stored);
  if (!doc) return item;
  xmlNode* root = xmlDocGetRootElement(doc.get());
  item.kind = local(root);
  for (xmlNode* f : elements(root)) item.fields.push_back({local(f), canonical(f)});
  return item;
}

std::string store_xml(const ItemData& item) {
  std::string out = "<t:" + item.kind + " xmlns:t=\"" + kTNs + "\" xmlns:m=\"" + kMNs + "\">";
  for (const auto& f : item.fields) out += f.xml;
  return out + "</t:" + item.kind + ">";
}

ItemData item_from_request(const xmlNode* element) {
  normalize_times(const_cast<xmlNode*>(element));
  normalize_booleans(const_cast<xmlNode*>(element));
  ItemData item;
  item.kind = local(element);
  for (xmlNode* f : elements(element)) {
    std::string name = local(f);
    if (kServerManaged.count(name)) continue;
    item.fields.push_back({name, canonical(f)});
  }
  return item;
}

void sort_fields(ItemData& item, const Schemas& schemas) {
  const auto& order = schemas.order(item.kind);
  if (order.empty()) return;
  auto index = [&](const std::string& name) {
    auto it = std::find(order.begin(), order.end(), name);
    return it == order.end() ? order.size() : static_cast<std::size_t>(it - order.begin());
  };
  std::stable_sort(item.fields.begin(), item.fields.end(),
                   [&](const Field& a, const Field& b) { return index(a.name) < index(b.name); });
}

Shape parse_shape(const xmlNode* s) {
  Shape shape;
  if (!s) return shape;
  shape.base = child_text(s, kTNs, "BaseShape");
  shape.body_type = child_text(s, kTNs, "BodyType");
  for (xmlNode* p : elements(child(s, kTNs, "AdditionalProperties")))
    if (auto path = parse_path(p)) shape.extra.push_back(*path);
  return shape;
}

namespace {

std::string text_of_body(const std::string& html) {
  std::string out;
  bool tag = false;
  for (char c : html) {
    if (c == '<')
      tag = true;
    else if (c == '>')
      tag = false;
    else if (!tag)
      out += c;
  }
  return out;
}

// Body converted to the requested BodyType (HTML -> Text strips tags).
std::string body_for(const Field& f, const std::string& body_type) {
  if (body_type != "Text") return f.xml;
  auto doc = parse_fragment(f.xml);
  if (!doc) return f.xml;
  xmlNode* b = elements(xmlDocGetRootElement(doc.get())).front();
  if (attr_or(b, "BodyType") != "HTML") return f.xml;
  // The HTML arrives escaped as text content; strip markup from the decoded text.
  return "<t:Body BodyType=\"Text\">" + esc(text_of_body(text(b))) + "</t:Body>";
}

}  // namespace

std::string render_item(const ItemData& item, const Shape& shape) {
  bool full = shape.base == "Default" || shape.base == "AllProperties";
  std::string out = "<t:" + item.kind + ">";
  for (const auto& f : item.fields) {
    if (f.name == "ItemId" || (full && f.name != "ExtendedProperty")) {
      out += f.name == "Body" ? body_for(f, shape.body_type) : f.xml;
      continue;
    }
    if (f.name == "ExtendedProperty") {
      std::string id = ext_identity_of_field(f);
      for (const auto& p : shape.extra)
        if (p.kind == Path::kExtended && p.ext == id) {
          out += f.xml;
          break;
        }
      continue;
    }
    // Plain fields requested by name; indexed containers reduced to the entries asked for.
    bool whole = false;
    std::vector<const Path*> indexed;
    for (const auto& p : shape.extra) {
      if (p.kind == Path::kField && p.name == f.name) whole = true;
      if (p.kind == Path::kIndexed && p.name == f.name) indexed.push_back(&p);
    }
    if (whole) {
      out += f.name == "Body" ? body_for(f, shape.body_type) : f.xml;
      continue;
    }
    if (indexed.empty()) continue;
    std::vector<std::pair<std::string, std::string>> kept;
    for (const auto& [key, entry] : entries_of(&f)) {
      std::map<std::string, std::string> parts;
      bool take = false;
      for (const Path* p : indexed) {
        if (p->index != key) continue;
        if (p->part.empty()) {
          take = true;
        } else {
          auto all = address_parts(entry);
          if (auto it = all.find(p->part); it != all.end()) parts[p->part] = it->second;
        }
      }
      if (take)
        kept.emplace_back(key, entry);
      else if (!parts.empty())
        kept.emplace_back(key, address_entry(key, parts));
    }
    if (!kept.empty()) out += container_xml(f.name, kept);
  }
  return out + "</t:" + item.kind + ">";
}

std::optional<std::string> value_at(const ItemData& item, const Path& path) {
  for (const auto& f : item.fields) {
    if (f.name != path.name) continue;
    if (path.kind == Path::kExtended) {
      if (ext_identity_of_field(f) != path.ext) continue;
      auto doc = parse_fragment(f.xml);
      xmlNode* prop = elements(xmlDocGetRootElement(doc.get())).front();
      if (xmlNode* v = child(prop, kTNs, "Value")) return text(v);
      return text(child(prop, kTNs, "Values"));
    }
    if (path.kind == Path::kIndexed) {
      for (const auto& [key, entry] : entries_of(&f)) {
        if (key != path.index) continue;
        auto doc = parse_fragment(entry);
        xmlNode* e = elements(xmlDocGetRootElement(doc.get())).front();
        if (path.part.empty()) return text(e);
        if (xmlNode* part = child(e, kTNs, path.part)) return text(part);
      }
      return std::nullopt;
    }
    auto doc = parse_fragment(f.xml);
    return text(elements(xmlDocGetRootElement(doc.get())).front());
  }
  return std::nullopt;
}

void set_field(ItemData& item, const Path& path, const xmlNode* value) {
  check_kind(item, value);
  normalize_times(const_cast<xmlNode*>(value));
  normalize_booleans(const_cast<xmlNode*>(value));
  const xmlNode* f = single_field(value);
  std::string name = local(f);
  if (name != path.name)
    throw ItemError{"ErrorInvalidPropertySet",
                    "The property path does not match the property " + name + "."};
  if (kServerManaged.count(name))
    throw ItemError{"ErrorInvalidPropertySet", "Set action is invalid for property."};
  if (path.kind == Path::kField) {
    item.set(name, canonical(f));
    return;
  }
  if (path.kind == Path::kExtended) {
    if (ext_identity(child(f, kTNs, "ExtendedFieldURI")) != path.ext)
      throw ItemError{"ErrorInvalidPropertySet",
                      "The extended property does not match the property path."};
    for (auto& existing : item.fields)
      if (existing.name == "ExtendedProperty" && ext_identity_of_field(existing) == path.ext) {
        existing.xml = canonical(f);
        return;
      }
    item.fields.push_back({name, canonical(f)});
    return;
  }
  // Indexed: exactly one Entry with the path's key.
  auto new_entries = children(f, kTNs, "Entry");
  if (new_entries.size() != 1 || attr_or(new_entries[0], "Key") != path.index)
    throw ItemError{"ErrorInvalidPropertySet",
                    "The indexed entry does not match the FieldIndex of the property path."};
  auto entries = entries_of(item.find(name));
  std::string entry = canonical(new_entries[0]);
  if (!path.part.empty()) {
    std::map<std::string, std::string> parts;
    for (auto& e : entries)
      if (e.first == path.index) parts = address_parts(e.second);
    auto incoming = address_parts(entry);
    auto it = incoming.find(path.part);
    if (it == incoming.end() || incoming.size() != 1)
      throw ItemError{"ErrorIncorrectUpdatePropertyCount",
                      "An object within a change description must contain one and only one "
                      "property to modify."};
    parts[path.part] = it->second;
    entry = address_entry(path.index, parts);
  }
  bool replaced = false;
  for (auto& e : entries)
    if (e.first == path.index) {
      e.second = entry;
      replaced = true;
    }
  if (!replaced) entries.emplace_back(path.index, entry);
  item.set(name, container_xml(name, entries));
}

void append_field(ItemData& item, const Path& path, const xmlNode* value) {
  check_kind(item, value);
  const xmlNode* f = single_field(value);
  std::string name = local(f);
  static const std::set<std::string> appendable = {
      "Body",      "ToRecipients",      "CcRecipients",      "BccRecipients",
      "ReplyTo",   "RequiredAttendees", "OptionalAttendees", "Resources",
      "Categories"};
  if (path.kind != Path::kField || name != path.name || !appendable.count(name))
    throw ItemError{"ErrorInvalidPropertyAppend",
                    "The property does not support append operations."};
  const Field* existing = item.find(name);
  if (!existing) {
    item.set(name, canonical(f));
    return;
  }
  auto doc = parse_fragment(existing->xml);
  xmlNode* old = elements(xmlDocGetRootElement(doc.get())).front();
  std::string out = "<t:" + name;
  if (name == "Body") {
    out += " BodyType=\"" + esc(attr_or(old, "BodyType", "Text")) + "\">" +
           esc(text(old) + text(f)) + "</t:Body>";
  } else {
    out += ">";
    for (xmlNode* c : elements(old)) out += canonical(c);
    for (xmlNode* c : elements(f)) out += canonical(c);
    out += "</t:" + name + ">";
  }
  item.set(name, out);
}

void delete_field(ItemData& item, const Path& path) {
  if (kServerManaged.count(path.name))
    throw ItemError{"ErrorInvalidPropertyDelete", "Delete action is invalid for property."};
  if (path.kind == Path::kField) {
    item.erase(path.name);
    return;
  }
  if (path.kind == Path::kExtended) {
    item.fields.erase(std::remove_if(item.fields.begin(), item.fields.end(),
                                     [&](const Field& f) {
                                       return f.name == "ExtendedProperty" &&
                                              ext_identity_of_field(f) == path.ext;
                                     }),
                      item.fields.end());
    return;
  }
  auto entries = entries_of(item.find(path.name));
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& e : entries) {
    if (e.first != path.index) {
      kept.push_back(e);
      continue;
    }
    if (path.part.empty()) continue;
    auto parts = address_parts(e.second);
    parts.erase(path.part);
    if (!parts.empty()) kept.emplace_back(e.first, address_entry(e.first, parts));
  }
  if (kept.empty())
    item.erase(path.name);
  else
    item.set(path.name, container_xml(path.name, kept));
}

}  // namespace ews_emulator
