// The EWS item codec: a store item as the elements of a Contact, Task, CalendarItem or
// Message (written in schema order, with the CRM link and the user's zone), UpdateItem's
// changes, and the store item read back from GetItem.
#include <algorithm>

#include "crmsync/model/mapping.hpp"
#include "item_fields.hpp"

namespace crmsync::ews {

using namespace detail;

namespace {

void write_mailbox(XmlWriter& w, const Party& p) {
  w.open("t:Mailbox");
  if (!p.name.empty()) w.leaf("t:Name", p.name);
  if (!p.address.empty()) w.leaf("t:EmailAddress", p.address);
  w.close();
}

Result<void> check_party(std::string_view field, const Party& p) {
  if (!soap::is_xml_text(p.name) || !soap::is_xml_text(p.address))
    return invalid_field(field, "a party's name or address XML cannot carry");
  if (p.name.empty() && p.address.empty()) return invalid_field(field, "an empty party");
  return Ok();
}

// One element (or dictionary entry) ready to be written: (order, sub-order, xml).
struct Piece {
  int order = 0;
  std::string group;  // dictionary element for entries ("" = standalone)
  int sub = 0;
  std::string xml;
};

Result<Piece> piece_of(ItemKind kind, const Spec& s, const Value& v) {
  XmlWriter w;
  Piece p;
  switch (s.slot) {
    case Slot::kElement: {
      p.order = order_of(kind, s.element);
      std::string el = "t:" + std::string(s.element);
      if (s.type == VT::kParties || s.type == VT::kParty) {
        const auto* parties = std::get_if<PartyList>(&v);
        if (!parties) return invalid_field(s.store, "expected a list of parties");
        for (const Party& party : *parties) CRMSYNC_TRY(check_party(s.store, party));
        if (s.type == VT::kParty && parties->size() != 1)
          return invalid_field(s.store, "expected exactly one party");
        w.open(el);
        for (const Party& party : *parties) {
          if (kind == ItemKind::kAppointment && s.type == VT::kParties) {
            w.open("t:Attendee");
            write_mailbox(w, party);
            w.close();
          } else {
            write_mailbox(w, party);
          }
        }
        w.close();
      } else {
        auto text = to_wire(s, v);
        if (!text) return text.error();
        w.open(el);
        if (s.element == "Body") w.attr("BodyType", "Text");
        if (s.type == VT::kTextList)
          w.leaf("t:String", *text);
        else
          w.text(*text);
        w.close();
      }
      break;
    }
    case Slot::kIndexed: {
      auto text = to_wire(s, v);
      if (!text) return text.error();
      p.order = order_of(kind, s.element);
      p.group = s.element;
      w.open("t:Entry").attr("Key", s.key).text(*text).close();
      break;
    }
    case Slot::kAddress: {
      auto text = to_wire(s, v);
      if (!text) return text.error();
      p.order = order_of(kind, "PhysicalAddresses");
      p.group = "PhysicalAddresses";
      p.sub = address_part_order(s.element);
      w.leaf("t:" + std::string(s.element), *text);
      break;
    }
    case Slot::kExtended: {
      auto text = to_wire(s, v);
      if (!text) return text.error();
      p.order = order_of(kind, "ExtendedProperty");
      write_ext(w, s.ext, *text);
      break;
    }
  }
  p.xml = w.take();
  return p;
}

std::vector<Piece> link_pieces(ItemKind kind, const CrmLink& link) {
  std::vector<Piece> out;
  int order = order_of(kind, "ExtendedProperty");
  auto add = [&](const Ext& e, const std::string& value) {
    XmlWriter w;
    write_ext(w, e, value);
    out.push_back({order, "", 0, w.take()});
  };
  if (link.tracked) add(kTracked, "true");
  if (link.crm_id) add(kCrmId, link.crm_id->str());
  if (link.crm_id_pending) add(kCrmIdPending, "true");
  if (link.crm_entity) add(kCrmEntity, std::string(to_string(*link.crm_entity)));
  return out;
}

// Joins pieces in schema order, grouping dictionary entries into their container.
std::string join_pieces(std::vector<Piece> pieces) {
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    return a.order != b.order ? a.order < b.order : a.sub < b.sub;
  });
  std::string out;
  for (std::size_t i = 0; i < pieces.size();) {
    if (pieces[i].group.empty()) {
      out += pieces[i++].xml;
      continue;
    }
    const std::string group = pieces[i].group;
    out += "<t:" + group + ">";
    if (group == "PhysicalAddresses") out += "<t:Entry Key=\"Business\">";
    while (i < pieces.size() && pieces[i].group == group) out += pieces[i++].xml;
    if (group == "PhysicalAddresses") out += "</t:Entry>";
    out += "</t:" + group + ">";
  }
  return out;
}

// A read-only field is not written, but a value of the wrong type is still refused (X3).
Result<void> check_read_only(const Spec& s, const Value& v) {
  if (is_null(v)) return Ok();
  bool ok = true;
  switch (s.type) {
    case VT::kDuration:
      ok = std::holds_alternative<std::int64_t>(v);
      break;
    case VT::kParty:
    case VT::kParties:
      ok = std::holds_alternative<PartyList>(v);
      break;
    case VT::kTime:
      ok = std::holds_alternative<UtcTime>(v);
      break;
    default:
      break;
  }
  if (!ok) return invalid_field(s.store, "a value of the wrong type: " + std::string(type_name(v)));
  return Ok();
}

Result<void> check_fields(ItemKind kind, const FieldMap& fields) {
  for (const auto& [name, value] : fields) {
    if (!find_spec(kind, name)) {
      if (is_known_store_field(kind, name))
        return invalid_field(name, "not supported by the EWS store");
      return invalid_field(name, "unknown for a " + std::string(to_string(kind)));
    }
  }
  return Ok();
}

}  // namespace

namespace detail {

std::string all_ext_uris() {
  std::string out;
  std::vector<std::string> seen;
  auto add = [&](const Ext& e) {
    std::string x = ext_uri_xml(e);
    if (std::find(seen.begin(), seen.end(), x) != seen.end()) return;
    seen.push_back(x);
    out += x;
  };
  for (ItemKind k : kAllItemKinds)
    for (const Spec& s : specs(k))
      if (s.slot == Slot::kExtended) add(s.ext);
  for (const Ext* e : {&kTracked, &kCrmId, &kCrmIdPending, &kCrmEntity}) add(*e);
  return out;
}

}  // namespace detail

namespace {

Party party_of(const Element& mailbox) {
  Party p;
  if (const Element* n = tchild(mailbox, "Name")) p.name = n->text();
  if (const Element* a = tchild(mailbox, "EmailAddress")) p.address = a->text();
  return p;
}

PartyList parties_of(const Element& container) {
  PartyList out;
  for (const Element& c : container.children()) {
    const Element* mailbox = c.is(kTNs, "Mailbox") ? &c : nullptr;
    if (c.is(kTNs, "Attendee")) mailbox = tchild(c, "Mailbox");
    if (mailbox) out.push_back(party_of(*mailbox));
  }
  return out;
}

// The raw text of a spec's value in an item, nullopt when absent.
std::optional<std::string> raw_value(const Element& item, const Spec& s) {
  switch (s.slot) {
    case Slot::kElement: {
      const Element* e = tchild(item, s.element);
      if (!e) return std::nullopt;
      if (s.type == VT::kTextList) {
        std::string joined;
        for (const Element& c : e->children()) {
          if (!c.is(kTNs, "String") || c.text().empty()) continue;
          if (!joined.empty()) joined += ", ";
          joined += c.text();
        }
        return joined;
      }
      return e->text();
    }
    case Slot::kIndexed:
    case Slot::kAddress: {
      const Element* dict = tchild(
          item, s.slot == Slot::kAddress ? std::string_view("PhysicalAddresses") : s.element);
      if (!dict) return std::nullopt;
      for (const Element& entry : dict->children()) {
        if (!entry.is(kTNs, "Entry") || attr(entry, "Key") != s.key) continue;
        if (s.slot == Slot::kIndexed) return entry.text();
        if (const Element* part = tchild(entry, s.element)) return part->text();
      }
      return std::nullopt;
    }
    case Slot::kExtended: {
      const std::string* v = ext_value(item, s.ext);
      if (!v) return std::nullopt;
      return *v;
    }
  }
  return std::nullopt;
}

Result<FieldMap> fields_of(ItemKind kind, const Element& item) {
  FieldMap out;
  for (const Spec& s : specs(kind)) {
    if (s.type == VT::kParties || s.type == VT::kParty) {
      const Element* e = tchild(item, s.element);
      if (!e) continue;
      PartyList parties = parties_of(*e);
      if (!parties.empty()) out[std::string(s.store)] = std::move(parties);
      continue;
    }
    if (s.type == VT::kDuration) continue;  // below
    auto raw = raw_value(item, s);
    if (!raw || raw->empty()) continue;
    auto v = from_wire(s, *raw);
    if (!v) return v.error();
    if (!is_null(*v)) out[std::string(s.store)] = std::move(*v);
  }
  if (kind == ItemKind::kAppointment) {
    const auto* start = out.count("Start") ? std::get_if<UtcTime>(&out["Start"]) : nullptr;
    const auto* end = out.count("End") ? std::get_if<UtcTime>(&out["End"]) : nullptr;
    if (start && end && end->ms >= start->ms)
      out["Duration"] = Value(static_cast<std::int64_t>((end->ms - start->ms) / 60'000));
  }
  return out;
}

Result<CrmLink> link_of(const Element& item) {
  CrmLink link;
  link.tracked = ext_flag(item, kTracked);
  if (const std::string* id = ext_value(item, kCrmId); id && !id->empty()) {
    auto parsed = CrmId::parse(*id);
    if (!parsed) return Error::Invalid("CRM id property: not a GUID: " + *id);
    link.crm_id = *parsed;
  }
  if (const std::string* p = ext_value(item, kCrmIdPending))
    link.crm_id_pending = (*p == "true" || *p == "1");
  if (const std::string* e = ext_value(item, kCrmEntity); e && !e->empty()) {
    auto parsed = parse_crm_entity(*e);
    if (!parsed) return Error::Invalid("CRM entity property: " + *e);
    link.crm_entity = *parsed;
  }
  return link;
}

constexpr const char* kZoneFields[] = {"StartTimeZone", "EndTimeZone"};

std::string zone_xml(std::string_view field, std::string_view zone_id) {
  XmlWriter w;
  w.open("t:" + std::string(field)).attr("Id", zone_id).close();
  return w.take();
}

std::vector<Piece> zone_pieces(std::string_view zone_id) {
  std::vector<Piece> out;
  for (const char* field : kZoneFields)
    out.push_back({order_of(ItemKind::kAppointment, field), "", 0, zone_xml(field, zone_id)});
  return out;
}

std::string path_xml(const Spec& s) {
  XmlWriter w;
  switch (s.slot) {
    case Slot::kElement:
      w.open("t:FieldURI").attr("FieldURI", s.uri).close();
      break;
    case Slot::kIndexed:
    case Slot::kAddress:
      w.open("t:IndexedFieldURI").attr("FieldURI", s.uri).attr("FieldIndex", s.key).close();
      break;
    case Slot::kExtended:
      write_ext_uri(w, s.ext);
      break;
  }
  return w.take();
}

// One ItemChange of `updates` with NeverOverwrite (and no invitations or sends).
std::string item_change(ItemKind kind, const ItemRef& ref, const std::string& updates) {
  std::string attrs = " ConflictResolution=\"NeverOverwrite\"";
  if (kind == ItemKind::kEmail) attrs += " MessageDisposition=\"SaveOnly\"";
  if (kind == ItemKind::kAppointment)
    attrs += " SendMeetingInvitationsOrCancellations=\"SendToNone\"";
  XmlWriter id;
  id.open("t:ItemId").attr("Id", ref.id).attr("ChangeKey", ref.change_key).close();
  return "<m:UpdateItem" + attrs + "><m:ItemChanges><t:ItemChange>" + id.take() + "<t:Updates>" +
         updates + "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>";
}

}  // namespace

Result<std::string> item_element(const NewStoreItem& n, std::string_view zone_id,
                                 const CategoryWrite& categories) {
  const ItemKind kind = n.item.kind;
  if (kind_of_folder(n.folder) != kind)
    return Error::Invalid("a " + std::string(to_string(kind)) + " cannot live in folder " +
                          std::string(to_string(n.folder)));
  CRMSYNC_TRY(check_fields(kind, n.item.fields));
  std::vector<Piece> pieces;
  for (const auto& [name, value] : n.item.fields) {
    const Spec* s = find_spec(kind, name);
    if (s->read_only) {
      CRMSYNC_TRY(check_read_only(*s, value));
      continue;
    }
    if (is_null(value)) continue;
    if (const auto* t = std::get_if<std::string>(&value); t && t->empty()) continue;
    auto p = piece_of(kind, *s, value);
    if (!p) return p.error();
    pieces.push_back(std::move(*p));
  }
  for (auto& p : link_pieces(kind, n.link)) pieces.push_back(std::move(p));
  auto cats = category_pieces(kind, categories);
  if (!cats) return cats.error();
  for (auto& [order, xml] : *cats) pieces.push_back({order, "", 0, std::move(xml)});
  if (kind == ItemKind::kAppointment)
    for (auto& p : zone_pieces(zone_id)) pieces.push_back(std::move(p));
  std::string el = "t:" + std::string(element_of(kind));
  return "<" + el + ">" + join_pieces(std::move(pieces)) + "</" + el + ">";
}

std::string create_items(Folder folder, const std::vector<std::string>& elements) {
  const ItemKind kind = kind_of_folder(folder);
  std::string attrs;
  if (kind == ItemKind::kEmail) attrs = " MessageDisposition=\"SaveOnly\"";
  if (kind == ItemKind::kAppointment) attrs = " SendMeetingInvitations=\"SendToNone\"";
  std::string out = "<m:CreateItem" + attrs + "><m:SavedItemFolderId>" + folder_id_xml(folder) +
                    "</m:SavedItemFolderId><m:Items>";
  for (const auto& e : elements) out += e;
  return out + "</m:Items></m:CreateItem>";
}

Result<std::string> create_item(const NewStoreItem& n, std::string_view zone_id,
                                const CategoryWrite& categories) {
  auto el = item_element(n, zone_id, categories);
  if (!el) return el.error();
  return create_items(n.folder, {*el});
}

Result<std::string> update_item(ItemKind kind, const ItemRef& ref, const FieldMap& changes,
                                const std::optional<CrmLink>& link, std::string_view zone_id,
                                const CategoryWrite& categories) {
  CRMSYNC_TRY(check_fields(kind, changes));
  const std::string el = "t:" + std::string(element_of(kind));
  std::string updates;
  // New times or a new all-day flag are meant in the user's zone: say so with them.
  if (kind == ItemKind::kAppointment &&
      (changes.count("Start") || changes.count("End") || changes.count("AllDayEvent")))
    for (const char* field : kZoneFields)
      updates += "<t:SetItemField><t:FieldURI FieldURI=\"calendar:" + std::string(field) + "\"/><" +
                 el + ">" + zone_xml(field, zone_id) + "</" + el + "></t:SetItemField>";
  for (const auto& [name, value] : changes) {
    const Spec* s = find_spec(kind, name);
    if (s->read_only) {
      CRMSYNC_TRY(check_read_only(*s, value));
      continue;
    }
    bool clear = is_null(value);
    if (const auto* t = std::get_if<std::string>(&value); t && t->empty()) clear = true;
    if (const auto* l = std::get_if<PartyList>(&value); l && l->empty()) clear = true;
    if (clear) {
      updates += "<t:DeleteItemField>" + path_xml(*s) + "</t:DeleteItemField>";
      continue;
    }
    auto p = piece_of(kind, *s, value);
    if (!p) return p.error();
    std::vector<Piece> one{std::move(*p)};
    updates += "<t:SetItemField>" + path_xml(*s) + "<" + el + ">" + join_pieces(std::move(one)) +
               "</" + el + "></t:SetItemField>";
  }
  if (link) {
    updates += set_ext_field(kind, kTracked, link->tracked ? "true" : "false");
    updates +=
        link->crm_id ? set_ext_field(kind, kCrmId, link->crm_id->str()) : delete_ext_field(kCrmId);
    updates += set_ext_field(kind, kCrmIdPending, link->crm_id_pending ? "true" : "false");
    updates += link->crm_entity ? set_ext_field(kind, kCrmEntity, to_string(*link->crm_entity))
                                : delete_ext_field(kCrmEntity);
  }
  auto cats = category_updates(kind, categories);
  if (!cats) return cats.error();
  updates += *cats;
  if (updates.empty()) return std::string();  // only read-only fields: nothing to write
  return item_change(kind, ref, updates);
}

Result<std::string> update_mark(ItemKind kind, const ItemRef& ref, bool tracked,
                                const CategoryWrite& categories) {
  if (!tracked) return update_item(kind, ref, {}, CrmLink{}, {}, categories);
  auto cats = category_updates(kind, categories);
  if (!cats) return cats.error();
  return item_change(kind, ref, set_ext_field(kind, kTracked, "true") + *cats);
}

Result<StoreItem> to_store_item(
    const RawItem& raw, const std::function<std::optional<Folder>(const std::string&)>& folder_of) {
  auto kind = kind_of_element(raw.element);
  if (!kind) return Error::NotFound("item " + raw.ref.id + " is a " + raw.element + ", not synced");
  if (raw.item_class.rfind("IPM.Configuration", 0) == 0)
    return Error::NotFound("item " + raw.ref.id + " is crmsync's own hidden item");
  auto folder = folder_of(raw.parent_folder_id);
  if (!folder) return Error::NotFound("item " + raw.ref.id + " is not in a synced folder");
  if (kind_of_folder(*folder) != *kind)
    return Error::NotFound("item " + raw.ref.id + " is a " + raw.element + " in folder " +
                           std::string(to_string(*folder)));
  if (raw.ref.change_key.empty())
    return Error::Invalid("item " + raw.ref.id + " without a ChangeKey");
  StoreItem s;
  s.entry_id = EntryId(raw.ref.id);
  s.change_key = raw.ref.change_key;
  s.folder = *folder;
  s.item.kind = *kind;
  auto fields = fields_of(*kind, raw.xml);
  if (!fields) return fields.error().context("item " + raw.ref.id);
  s.item.fields = std::move(*fields);
  const Element* lm = tchild(raw.xml, "LastModifiedTime");
  if (!lm) return Error::Invalid("item " + raw.ref.id + " without LastModifiedTime");
  auto modified = UtcTime::parse(lm->text());
  if (!modified) return Error::Invalid("item " + raw.ref.id + ": bad LastModifiedTime");
  s.item.modified = *modified;
  auto link = link_of(raw.xml);
  if (!link) return link.error().context("item " + raw.ref.id);
  s.link = *link;
  s.categories = category_mark_of(raw).categories;
  return s;
}

Result<StoreItemHeader> header_of(const RawItem& raw, Folder folder) {
  auto kind = kind_of_element(raw.element);
  if (!kind || *kind != kind_of_folder(folder))
    return Error::NotFound("item " + raw.ref.id + " is a " + raw.element + " in folder " +
                           std::string(to_string(folder)));
  if (raw.item_class.rfind("IPM.Configuration", 0) == 0)
    return Error::NotFound("item " + raw.ref.id + " is crmsync's own hidden item");
  if (raw.ref.change_key.empty())
    return Error::Invalid("item " + raw.ref.id + " without a ChangeKey");
  const Element* lm = tchild(raw.xml, "LastModifiedTime");
  if (!lm) return Error::Invalid("item " + raw.ref.id + " without LastModifiedTime");
  auto modified = UtcTime::parse(lm->text());
  if (!modified) return Error::Invalid("item " + raw.ref.id + ": bad LastModifiedTime");
  StoreItemHeader h{EntryId(raw.ref.id), raw.ref.change_key, *modified, false};
  h.tracked = ext_flag(raw.xml, kTracked);
  return h;
}

std::string crm_id_of(const RawItem& raw) {
  const std::string* v = ext_value(raw.xml, kCrmId);
  return v ? *v : std::string();
}

}  // namespace crmsync::ews
