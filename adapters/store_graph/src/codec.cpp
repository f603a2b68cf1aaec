#include "codec.hpp"

#include <algorithm>
#include <cctype>

#include "crmsync/model/mapping.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync::graph {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool truthy(std::string_view s) {
  return lower(s) == "true" || s == "1";
}

// Ids as Graph's documentation spells them (what is sent); lookups compare canonical_prop()s.
const std::string& prop_tracked() {
  static const std::string p = named_prop("Tracked", "Boolean");
  return p;
}
const std::string& prop_pending() {
  static const std::string p = named_prop("CrmIdPending", "Boolean");
  return p;
}
const std::string& prop_entity() {
  static const std::string p = named_prop("CrmEntity");
  return p;
}

// The link as extended properties (every one, so that clearing works).
void link_props(const CrmLink& link, PropWrites& out) {
  out.emplace_back(prop_tracked(), link.tracked ? "true" : "false");
  out.emplace_back(crm_id_prop(), link.crm_id ? link.crm_id->str() : "");
  out.emplace_back(prop_pending(), link.crm_id_pending ? "true" : "false");
  out.emplace_back(prop_entity(), link.crm_entity ? std::string(to_string(*link.crm_entity)) : "");
}

Result<CrmLink> link_from_props(const Props& props) {
  CrmLink link;
  auto get = [&](const std::string& id) -> std::string {
    auto it = props.find(canonical_prop(id));
    return it == props.end() ? std::string() : it->second;
  };
  link.tracked = truthy(get(prop_tracked()));
  link.crm_id_pending = truthy(get(prop_pending()));
  if (std::string id = get(crm_id_prop()); !id.empty()) {
    auto parsed = CrmId::parse(id);
    if (!parsed) return Error::Invalid("CRM id property: not a GUID: " + id.substr(0, 64));
    link.crm_id = *parsed;
  }
  if (std::string e = get(prop_entity()); !e.empty()) {
    auto parsed = parse_crm_entity(e);
    if (!parsed) return Error::Invalid("CRM entity property: " + e.substr(0, 64));
    link.crm_entity = *parsed;
  }
  return link;
}

// A task's link and Regarding, in crmsync's linked resource: externalId the CRM id, displayName
// "crmsync: tracked; pending; entity=phonecall; regarding=contact:GUID" (what is set).
std::string task_link_text(const CrmLink& link, const std::string& regarding) {
  std::string out = "crmsync:";
  auto add = [&](const std::string& part) { out += (out.back() == ':' ? " " : "; ") + part; };
  if (link.tracked) add("tracked");
  if (link.crm_id_pending) add("pending");
  if (link.crm_entity) add("entity=" + std::string(to_string(*link.crm_entity)));
  if (!regarding.empty()) add("regarding=" + regarding);
  return out;
}

struct TaskLink {
  CrmLink link;
  std::string regarding;
};

Result<TaskLink> task_link_of(const Json& resource) {
  TaskLink out;
  std::string text = graph::text(resource, "displayName");
  if (text.rfind("crmsync:", 0) != 0) return Error::Invalid("crmsync's linked resource: no flags");
  std::string rest = text.substr(8);
  std::size_t at = 0;
  while (at <= rest.size()) {
    std::size_t end = rest.find(';', at);
    if (end == std::string::npos) end = rest.size();
    std::string part(trim(std::string_view(rest).substr(at, end - at)));
    at = end + 1;
    if (part.empty()) continue;
    if (part == "tracked") {
      out.link.tracked = true;
    } else if (part == "pending") {
      out.link.crm_id_pending = true;
    } else if (part.rfind("entity=", 0) == 0) {
      auto e = parse_crm_entity(part.substr(7));
      if (!e) return Error::Invalid("crmsync's linked resource: entity " + part.substr(7, 40));
      out.link.crm_entity = *e;
    } else if (part.rfind("regarding=", 0) == 0) {
      out.regarding = part.substr(10);
    }
  }
  if (std::string id = graph::text(resource, "externalId"); !id.empty()) {
    auto parsed = CrmId::parse(id);
    if (!parsed)
      return Error::Invalid("crmsync's linked resource: not a GUID: " + id.substr(0, 64));
    out.link.crm_id = *parsed;
  }
  return out;
}

const Json* our_linked_resource(const Json& task) {
  const Json* list = member(task, "linkedResources");
  if (!list || !list->IsArray()) return nullptr;
  for (const auto& r : list->GetArray())
    if (text(r, "applicationName") == kLinkApplication) return &r;
  return nullptr;
}

Doc linked_resource_doc(const CrmLink& link, const std::string& regarding) {
  Doc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  put(d, "applicationName", str(kLinkApplication, a), a);
  put(d, "externalId", str(link.crm_id ? link.crm_id->str() : "", a), a);
  put(d, "displayName", str(task_link_text(link, regarding), a), a);
  return d;
}

Result<void> write_kind(ItemKind kind, const FieldMap& merged, const std::set<std::string>& changed,
                        const CodecContext& ctx, FieldsOut out) {
  switch (kind) {
    case ItemKind::kContact:
      return write_contact(merged, changed, out);
    case ItemKind::kTask:
      return write_task(merged, changed, out);
    case ItemKind::kAppointment:
      return write_event(merged, changed, ctx, out);
    case ItemKind::kEmail:
      return write_message(merged, changed, out);
  }
  return Error::Internal("unknown kind");
}

void put_props(const PropWrites& props, Json& body, Alloc& a) {
  if (props.empty()) return;
  Json arr(rapidjson::kArrayType);
  for (const auto& [id, value] : props) {
    Json p(rapidjson::kObjectType);
    put(p, "id", str(id, a), a);
    put(p, "value", str(value, a), a);
    arr.PushBack(p, a);
  }
  put(body, "singleValueExtendedProperties", std::move(arr), a);
}

void put_categories(const std::vector<std::string>& cats, Json& body, Alloc& a) {
  Json arr(rapidjson::kArrayType);
  for (const auto& c : cats) arr.PushBack(str(c, a), a);
  put(body, "categories", std::move(arr), a);
}

std::string regarding_text(const FieldMap& fields) {
  const Value* v = field(fields, "Regarding");
  if (const auto* r = v ? std::get_if<EntityRef>(v) : nullptr) return r->str();
  return {};
}

}  // namespace

std::string named_prop(std::string_view name, std::string_view type) {
  return std::string(type) + " {" + std::string(kPropertySet) + "} Name " + std::string(name);
}

std::string canonical_prop(std::string_view id) {
  std::string s(trim(id));
  auto name_at = s.find("} Name ");
  if (name_at == std::string::npos) name_at = s.find("} name ");
  if (name_at != std::string::npos)
    return lower(s.substr(0, name_at)) + "} name " + s.substr(name_at + 7);
  return lower(s);
}

const std::string& crm_id_prop() {
  static const std::string p = named_prop("CrmId");
  return p;
}

std::vector<std::string> props_of_kind(ItemKind kind) {
  std::vector<std::string> out = {prop_tracked(), crm_id_prop(), prop_pending(), prop_entity()};
  if (kind == ItemKind::kContact)
    for (auto& p : contact_props()) out.push_back(p);
  if (kind == ItemKind::kAppointment || kind == ItemKind::kEmail)
    out.push_back(named_prop("Regarding"));
  return out;
}

std::string expand_of(ItemKind kind) {
  if (kind == ItemKind::kTask) return "linkedResources";
  std::string out = "singleValueExtendedProperties($filter=";
  bool first = true;
  for (const auto& p : props_of_kind(kind)) {
    out += (first ? "" : " or ") + std::string("id eq '") + p + "'";
    first = false;
  }
  return out + ")";
}

std::string_view entity_type(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return "contact";
    case ItemKind::kTask:
      return "todoTask";
    case ItemKind::kAppointment:
      return "event";
    case ItemKind::kEmail:
      return "message";
  }
  return "";
}

Result<Entity> entity_of(ItemKind kind, const Json& v) {
  if (!v.IsObject()) return Error::Invalid("an entry that is not an object");
  Entity e;
  auto type = opt_text(v, "@odata.type");
  if (!type) return type.error();
  if (*type && **type != "#microsoft.graph." + std::string(entity_type(kind)))
    return Error::Invalid("an entry of type '" + (*type)->substr(0, 80) + "' where a " +
                          std::string(entity_type(kind)) + " was expected");
  e.id = text(v, "id");
  if (e.id.empty() || e.id.size() > 300 || !is_valid_utf8(e.id))
    return Error::Invalid("an entry without a usable id");
  if (member(v, "@removed")) {
    e.removed = true;
    return e;
  }
  e.change_key = text(v, "@odata.etag");
  if (e.change_key.empty()) e.change_key = text(v, "changeKey");
  if (e.change_key.empty()) return Error::Invalid("item " + e.id + ": no change key");
  auto modified = UtcTime::parse(text(v, "lastModifiedDateTime"));
  if (!modified) return Error::Invalid("item " + e.id + ": bad lastModifiedDateTime");
  e.modified = *modified;
  auto cats = text_list(v, "categories");
  if (!cats) return cats.error().context("item " + e.id);
  e.categories = std::move(*cats);
  if (kind == ItemKind::kAppointment) e.event_type = text(v, "type");
  if (kind == ItemKind::kEmail) e.parent_folder = text(v, "parentFolderId");
  const bool expanded = kind == ItemKind::kTask
                            ? member(v, "linkedResources") != nullptr
                            : member(v, "singleValueExtendedProperties") != nullptr;
  if (expanded) {
    auto link = link_of(kind, v);
    if (!link) return link.error().context("item " + e.id);
    e.link = *link;
  }
  return e;
}

Props props_in(const Json& v) {
  Props out;
  const Json* list = member(v, "singleValueExtendedProperties");
  if (!list || !list->IsArray()) return out;
  for (const auto& p : list->GetArray()) {
    std::string id = text(p, "id");
    if (!id.empty()) out[canonical_prop(id)] = text(p, "value");
  }
  return out;
}

Result<CrmLink> link_of(ItemKind kind, const Json& v) {
  if (kind != ItemKind::kTask) return link_from_props(props_in(v));
  const Json* r = our_linked_resource(v);
  if (!r) return CrmLink{};
  auto tl = task_link_of(*r);
  if (!tl) return tl.error();
  return tl->link;
}

bool in_props(ItemKind kind, std::string_view name) {
  if (kind == ItemKind::kAppointment || kind == ItemKind::kEmail) return name == "Regarding";
  return kind == ItemKind::kContact && contact_in_props(name);
}

std::string linked_resource_id(const Json& task) {
  const Json* r = our_linked_resource(task);
  return r ? text(*r, "id") : std::string();
}

Result<StoreItem> item_of(ItemKind kind, const Json& v, Folder folder, const CodecContext& ctx) {
  auto e = entity_of(kind, v);
  if (!e) return e.error();
  if (e->removed) return Error::NotFound("item " + e->id + " was removed");
  if (kind == ItemKind::kAppointment && !e->event_type.empty() && e->event_type != "singleInstance")
    return Error::Invalid("event " + e->id + " is part of a recurring series (" + e->event_type +
                          "): left out of sync (U5)");
  const Props props = props_in(v);
  Result<FieldMap> fields = Error::Internal("unknown kind");
  switch (kind) {
    case ItemKind::kContact:
      fields = read_contact(v, props);
      break;
    case ItemKind::kTask:
      fields = read_task(v);
      break;
    case ItemKind::kAppointment:
      fields = read_event(v, props, ctx);
      break;
    case ItemKind::kEmail:
      fields = read_message(v, props);
      break;
  }
  if (!fields) return fields.error().context("item " + e->id);
  StoreItem out;
  out.change_key = e->change_key;
  out.folder = folder;
  out.item.kind = kind;
  out.item.fields = std::move(*fields);
  out.item.modified = e->modified;
  out.categories = std::move(e->categories);
  if (kind == ItemKind::kTask) {
    if (const Json* r = our_linked_resource(v)) {
      auto tl = task_link_of(*r);
      if (!tl) return tl.error().context("item " + e->id);
      out.link = tl->link;
      if (!tl->regarding.empty()) {
        auto ref = reference_from("Regarding", tl->regarding);
        if (!ref) return ref.error().context("item " + e->id);
        out.item.fields["Regarding"] = *ref;
      }
    }
  } else {
    auto link = link_from_props(props);
    if (!link) return link.error().context("item " + e->id);
    out.link = *link;
  }
  return out;
}

Result<Doc> create_body(const NewStoreItem& n, const CodecContext& ctx) {
  const ItemKind kind = n.item.kind;
  if (kind_of_folder(n.folder) != kind)
    return Error::Invalid("a " + std::string(to_string(kind)) + " cannot live in folder " +
                          std::string(to_string(n.folder)));
  Doc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  std::set<std::string> changed;
  for (const auto& [name, value] : n.item.fields) changed.insert(name);
  PropWrites props;
  CRMSYNC_TRY(write_kind(kind, n.item.fields, changed, ctx, FieldsOut{d, a, props}));
  if (kind == ItemKind::kTask) {
    const std::string regarding = regarding_text(n.item.fields);
    if (n.link != CrmLink{} || !regarding.empty()) {
      Json arr(rapidjson::kArrayType);
      Doc r = linked_resource_doc(n.link, regarding);
      arr.PushBack(Json(r, a), a);
      put(d, "linkedResources", std::move(arr), a);
    }
  } else {
    if (n.link != CrmLink{}) {
      PropWrites link;
      link_props(n.link, link);
      for (auto& p : link)
        if (p.second != "" && p.second != "false") props.push_back(std::move(p));
    }
    put_props(props, d, a);
  }
  if (ctx.track)
    if (auto cats = ctx.track->in_step({}, n.link.tracked)) put_categories(*cats, d, a);
  // X1: a retried POST of the same event answers with the event made the first time.
  if (kind == ItemKind::kAppointment && n.link.crm_id)
    put(d, "transactionId", str(n.link.crm_id->str(), a), a);
  return d;
}

Result<Patch> patch_of(const StoreItem& current, const FieldMap& changes,
                       const std::optional<CrmLink>& link, const CodecContext& ctx) {
  const ItemKind kind = current.item.kind;
  Patch p{Doc(rapidjson::kObjectType), std::nullopt};
  auto& a = p.body.GetAllocator();
  FieldMap merged = current.item.fields;
  std::set<std::string> changed;
  for (const auto& [name, value] : changes) {
    changed.insert(name);
    if (is_null(value))
      merged.erase(name);
    else
      merged[name] = value;
  }
  PropWrites props;
  CRMSYNC_TRY(write_kind(kind, merged, changed, ctx, FieldsOut{p.body, a, props}));
  if (kind == ItemKind::kTask) {
    const bool regarding_changed =
        changes.count("Regarding") && regarding_text(merged) != regarding_text(current.item.fields);
    if ((link && *link != current.link) || regarding_changed)
      p.linked = linked_resource_doc(link.value_or(current.link), regarding_text(merged));
  } else if (link && *link != current.link) {
    link_props(*link, props);
  }
  put_props(props, p.body, a);
  if (link && ctx.track)
    if (auto cats = ctx.track->in_step(current.categories, link->tracked))
      put_categories(*cats, p.body, a);
  return p;
}

Result<Patch> mark_patch(const StoreItem& current, bool tracked, const CodecContext& ctx) {
  // A track keeps a CRM id the item had (X1's pending id); an untrack clears the whole link,
  // as the user's untrack does in every store.
  CrmLink link = tracked ? current.link : CrmLink{};
  link.tracked = tracked;
  return patch_of(current, {}, link, ctx);
}

// ---- shared value helpers ----

Error invalid_field(std::string_view field, std::string_view why) {
  return Error::Invalid("field " + std::string(field) + ": " + std::string(why));
}

Result<std::string> text_value(std::string_view name, const Value& v) {
  const auto* s = std::get_if<std::string>(&v);
  if (!s) return invalid_field(name, "expected text, got " + std::string(type_name(v)));
  CRMSYNC_TRY(check_text(name, *s));
  return *s;
}

const Value* field(const FieldMap& m, std::string_view name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

bool empty_value(const Value* v) {
  if (!v || is_null(*v)) return true;
  if (const auto* s = std::get_if<std::string>(v)) return s->empty();
  if (const auto* l = std::get_if<PartyList>(v)) return l->empty();
  return false;
}

std::string date_wire(const Date& d) {
  return d.iso() + "T00:00:00Z";
}

Result<Date> date_from_wire(std::string_view name, std::string_view text) {
  std::string s(text);
  if (s.size() == 10) s += "T00:00:00Z";  // a bare date (contact-update.md prints one)
  auto t = UtcTime::parse(s);
  if (!t) t = from_utc_text(s);
  if (!t) return invalid_field(name, "bad date '" + std::string(text.substr(0, 40)) + "'");
  constexpr std::int64_t kDay = 86'400'000;
  std::int64_t ms = t->ms + kDay / 2;
  std::int64_t days = ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
  return Date::from_days_since_epoch(days);
}

Result<Value> importance_from(std::string_view text) {
  const std::string l = lower(text);
  if (l == "low") return Value(std::string("Low"));
  if (l == "normal") return Value(std::string("Normal"));
  if (l == "high") return Value(std::string("High"));
  return Error::Invalid("bad importance '" + std::string(text.substr(0, 40)) + "'");
}

Result<std::string> importance_wire(const Value& v) {
  auto t = text_value("Importance", v);
  if (!t) return t;
  if (*t == "Low" || *t == "Normal" || *t == "High") return lower(*t);
  return invalid_field("Importance", "not one of Low, Normal, High: " + t->substr(0, 40));
}

Json email_address(const Party& p, Alloc& a) {
  Json e(rapidjson::kObjectType);
  if (!p.name.empty()) put(e, "name", str(p.name, a), a);
  put(e, "address", str(p.address, a), a);
  return e;
}

Party party_of(const Json& email_address) {
  Party p;
  p.name = text(email_address, "name");
  p.address = text(email_address, "address");
  return p;
}

Result<PartyList> parties_value(std::string_view name, const Value& v) {
  const auto* list = std::get_if<PartyList>(&v);
  if (!list) return invalid_field(name, "expected a list of parties");
  for (const Party& p : *list) {
    CRMSYNC_TRY(check_text(name, p.name));
    CRMSYNC_TRY(check_text(name, p.address));
    if (p.name.empty() && p.address.empty()) return invalid_field(name, "an empty party");
  }
  return *list;
}

Result<std::string> reference_wire(std::string_view name, const Value& v) {
  const auto* r = std::get_if<EntityRef>(&v);
  if (!r) return invalid_field(name, "expected a reference (entity:guid)");
  return r->str();
}

Result<Value> reference_from(std::string_view name, std::string_view text) {
  auto r = EntityRef::parse(text);
  if (!r) return invalid_field(name, "bad reference '" + std::string(text.substr(0, 80)) + "'");
  return Value(*r);
}

Result<std::string> merged_text(const FieldMap& merged, std::string_view name) {
  const Value* v = field(merged, name);
  if (empty_value(v)) return std::string();
  return text_value(name, *v);
}

Result<void> write_body(const FieldMap& merged, FieldsOut out) {
  auto t = merged_text(merged, "Body");
  if (!t) return t.error();
  Json body(rapidjson::kObjectType);
  put(body, "contentType", str("text", out.alloc), out.alloc);
  put(body, "content", str(*t, out.alloc), out.alloc);
  put(out.body, "body", std::move(body), out.alloc);
  return Ok();
}

Result<void> write_importance(const FieldMap& merged, FieldsOut out) {
  const Value* v = field(merged, "Importance");
  std::string wire = "normal";
  if (!empty_value(v)) {
    auto w = importance_wire(*v);
    if (!w) return w.error();
    wire = *w;
  }
  put(out.body, "importance", str(wire, out.alloc), out.alloc);
  return Ok();
}

Result<void> write_regarding_prop(const FieldMap& merged, FieldsOut out) {
  const Value* v = field(merged, "Regarding");
  std::string wire;
  if (!empty_value(v)) {
    auto r = reference_wire("Regarding", *v);
    if (!r) return r.error();
    wire = *r;
  }
  out.props.emplace_back(named_prop("Regarding"), wire);
  return Ok();
}

Result<void> read_body_and_importance(const Json& v, FieldMap& out) {
  if (const Json* body = member(v, "body"); body && body->IsObject())
    if (std::string c = text(*body, "content"); !c.empty()) out["Body"] = c;
  if (std::string imp = text(v, "importance"); !imp.empty()) {
    auto i = importance_from(imp);
    if (!i) return i.error();
    out["Importance"] = *i;
  }
  return Ok();
}

Result<void> read_regarding_prop(const Props& props, FieldMap& out) {
  auto it = props.find(canonical_prop(named_prop("Regarding")));
  if (it == props.end() || it->second.empty()) return Ok();
  auto r = reference_from("Regarding", it->second);
  if (!r) return r.error();
  out["Regarding"] = *r;
  return Ok();
}

Result<void> check_type(std::string_view name, const Value& v, std::string_view type) {
  if (is_null(v)) return Ok();
  bool ok = (type == "parties" && std::holds_alternative<PartyList>(v)) ||
            (type == "integer" && std::holds_alternative<std::int64_t>(v)) ||
            (type == "time" && std::holds_alternative<UtcTime>(v));
  if (!ok) return invalid_field(name, "a value of the wrong type: " + std::string(type_name(v)));
  return Ok();
}

}  // namespace crmsync::graph
