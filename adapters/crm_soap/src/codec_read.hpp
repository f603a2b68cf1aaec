// The readers of the Organization Service replies as templates over the node type: a
// soap::Element tree (codec.hpp's functions, every reply) or a tinyxml2 document read in place
// (XmlView: the RetrieveEntityChanges and RetrieveMultiple pages of a sync). One text, so both
// accept the same replies and give the same records.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "codec.hpp"

namespace crmsync::crm_soap::read {

// What E::child() gives: const Element* for the tree, std::optional<XmlView> for a view.
template <class E>
using Found = decltype(std::declval<const E&>().child(std::string_view{}, std::string_view{}));

std::string trim(std::string_view s);
Result<std::int64_t> parse_int(std::string_view what, const std::string& text);
Result<bool> parse_bool(std::string_view what, const std::string& text);
Result<CrmId> parse_guid(std::string_view what, const std::string& text);

struct RawEntity {
  std::string logical_name;
  CrmId id;
  FieldMap attributes;
  std::string row_version;
};

// An Entity's record: entity from LogicalName, its id (else the primary id attribute), ownerid
// and modifiedon lifted out.
Result<CrmRecord> to_record(RawEntity raw);

template <class E>
Result<Found<E>> execute_result(const E& body) {
  if (!body.is(kServicesNs, "ExecuteResponse"))
    return Error::Invalid("expected ExecuteResponse, got <" + std::string(body.name()) + ">");
  auto r = body.child(kServicesNs, "ExecuteResult");
  if (!r) return Error::Invalid("ExecuteResponse has no ExecuteResult");
  return r;
}

template <class E>
Found<E> result_value(const E& result, std::string_view key) {
  auto results = result.child(kXrmNs, "Results");
  if (!results) return Found<E>{};
  for (const auto& kv : results->children()) {
    auto k = kv.child(kGenericNs, "key");
    if (k && k->text() == key) return kv.child(kGenericNs, "value");
  }
  return Found<E>{};
}

template <class E>
Result<Found<E>> required_value(const E& body, std::string_view key) {
  auto result = execute_result(body);
  if (!result.ok()) return result.error();
  auto v = result_value(**result, key);
  if (!v) return Error::Invalid("response has no " + std::string(key));
  return v;
}

template <class E>
Result<RawEntity> read_raw_entity(const E& e);

template <class E>
Result<PartyList> read_party_list(const E& v) {
  PartyList parties;
  auto entities = v.child(kXrmNs, "Entities");
  if (!entities) return parties;
  for (const auto& ent : entities->children()) {
    if (!ent.is(kXrmNs, "Entity")) continue;
    auto raw = read_raw_entity(ent);
    if (!raw.ok()) return raw.error();
    Party p;
    auto& a = raw->attributes;
    if (auto it = a.find("partyid"); it != a.end()) {
      if (const auto* r = std::get_if<EntityRef>(&it->second)) {
        p.ref = *r;
        p.name = r->name;
      }
    }
    if (auto it = a.find("addressused"); it != a.end())
      if (const auto* s = std::get_if<std::string>(&it->second)) p.address = *s;
    parties.push_back(std::move(p));
  }
  return parties;
}

template <class E>
Result<std::optional<Value>> read_value(const E& v) {
  using Out = std::optional<Value>;
  if (v.nil()) return Out{Value{}};
  auto type = v.xsi_type();
  if (!type.ok()) return type.error();
  if (!*type) return Out{Value{std::string(v.text())}};
  const soap::QName& t = **type;
  if (t.ns == kXsdNs) {
    if (t.local == "string") return Out{Value{std::string(v.text())}};
    if (t.local == "int" || t.local == "long" || t.local == "short") {
      auto n = parse_int("int", v.text());
      if (!n.ok()) return n.error();
      return Out{Value{*n}};
    }
    if (t.local == "boolean") {
      auto b = parse_bool("boolean", v.text());
      if (!b.ok()) return b.error();
      return Out{Value{*b}};
    }
    if (t.local == "dateTime") {
      const std::string text = v.text();
      auto time = UtcTime::parse(trim(text));
      if (!time.ok())
        return Error::Invalid("dateTime \"" + text.substr(0, 40) + "\" is not a date");
      return Out{Value{*time}};
    }
    if (t.local == "guid") {  // some servers type guids in the XSD namespace
      auto id = parse_guid("guid", v.text());
      if (!id.ok()) return id.error();
      return Out{Value{id->str()}};
    }
    return Out{};
  }
  if (t.ns == kSerNs && t.local == "guid") {
    auto id = parse_guid("guid", v.text());
    if (!id.ok()) return id.error();
    return Out{Value{id->str()}};
  }
  if (t.ns == kXrmNs) {
    if (t.local == "OptionSetValue") {
      auto val = v.child(kXrmNs, "Value");
      if (!val) return Error::Invalid("OptionSetValue without Value");
      auto n = parse_int("OptionSetValue", val->text());
      if (!n.ok()) return n.error();
      return Out{Value{*n}};
    }
    if (t.local == "EntityReference") {
      auto id = v.child(kXrmNs, "Id");
      auto ln = v.child(kXrmNs, "LogicalName");
      if (!id || !ln) return Error::Invalid("EntityReference without Id or LogicalName");
      auto parsed = parse_guid("EntityReference Id", id->text());
      if (!parsed.ok()) return parsed.error();
      EntityRef ref{std::string(ln->text()), *parsed, ""};
      if (auto name = v.child(kXrmNs, "Name"); name && !name->nil()) ref.name = name->text();
      return Out{Value{std::move(ref)}};
    }
    if (t.local == "EntityCollection") {
      auto parties = read_party_list(v);
      if (!parties.ok()) return parties.error();
      return Out{Value{std::move(parties.value())}};
    }
  }
  return Out{};  // Money, decimals, aliased values...: not part of the model
}

template <class E>
Result<RawEntity> read_raw_entity(const E& e) {
  RawEntity out;
  if (auto ln = e.child(kXrmNs, "LogicalName")) out.logical_name = ln->text();
  if (auto attrs = e.child(kXrmNs, "Attributes")) {
    for (const auto& kv : attrs->children()) {
      auto k = kv.child(kGenericNs, "key");
      auto v = kv.child(kGenericNs, "value");
      if (!k || !v) continue;
      std::string key = k->text();
      auto value = read_value(*v);
      if (!value.ok()) return value.error().context("attribute " + key.substr(0, 100));
      if (value->has_value()) out.attributes[std::move(key)] = std::move(**value);
    }
  }
  if (auto id = e.child(kXrmNs, "Id"); id && !id->nil()) {
    auto parsed = parse_guid("Entity Id", id->text());
    if (!parsed.ok()) return parsed.error();
    out.id = *parsed;
  }
  if (auto v = e.child(kXrmNs, "RowVersion"); v && !v->nil()) {
    out.row_version = trim(v->text());
    if (out.row_version.size() > 100 || !soap::is_xml_text(out.row_version))
      return Error::Invalid("Entity RowVersion is not a version");
  }
  return out;
}

// A RetrieveMultiple EntityCollection: `take` gets each entity read raw; the page's paging
// fields are filled in.
template <class Page, class E, class Take>
Result<Page> read_collection(const E& body, Take take) {
  auto v = required_value(body, "EntityCollection");
  if (!v.ok()) return v.error();
  Page page;
  if (auto entities = (*v)->child(kXrmNs, "Entities")) {
    for (const auto& e : entities->children()) {
      if (!e.is(kXrmNs, "Entity")) continue;
      auto raw = read_raw_entity(e);
      if (!raw.ok()) return raw.error();
      if (auto r = take(std::move(*raw), page); !r.ok()) return r.error();
    }
  }
  if (auto more = (*v)->child(kXrmNs, "MoreRecords")) {
    auto b = parse_bool("MoreRecords", more->text());
    if (!b.ok()) return b.error();
    page.more = *b;
  }
  if (auto c = (*v)->child(kXrmNs, "PagingCookie"); c && !c->nil()) page.paging_cookie = c->text();
  return page;
}

// The id of an entity whose Entity/Id is nil: its primary id attribute, when a GUID.
void id_from_attribute(CrmId& id, const FieldMap& attributes, std::string_view primary_id);

template <class E>
Result<EntityPage> retrieve_multiple(const E& body) {
  return read_collection<EntityPage>(body, [](RawEntity raw, EntityPage& page) -> Result<void> {
    if (raw.logical_name == "privilege") {  // not a synced entity: id only
      CrmRecord r;
      r.id = raw.id;
      id_from_attribute(r.id, raw.attributes, "privilegeid");
      r.attributes = std::move(raw.attributes);
      page.records.push_back(std::move(r));
      return Ok();
    }
    auto rec = to_record(std::move(raw));
    if (!rec.ok()) return rec.error();
    page.records.push_back(std::move(rec.value()));
    return Ok();
  });
}

template <class E>
Result<CrmChangePage> entity_changes(const E& body) {
  auto v = required_value(body, "EntityChanges");
  if (!v.ok()) return v.error();
  const auto& changes = **v;
  CrmChangePage page;
  if (auto list = changes.child_any_ns("Changes")) {
    for (const auto& item : list->children()) {
      auto type = item.xsi_type();
      if (!type.ok()) return type.error();
      std::string kind = *type ? (*type)->local : std::string{};
      if (kind.empty())
        if (auto t = item.child_any_ns("Type")) kind = t->text();
      if (kind == "NewOrUpdatedItem" || kind == "NewOrUpdated") {
        auto e = item.child_any_ns("NewOrUpdatedEntity");
        if (!e) return Error::Invalid("NewOrUpdatedItem without NewOrUpdatedEntity");
        auto raw = read_raw_entity(*e);
        if (!raw.ok()) return raw.error();
        auto rec = to_record(std::move(*raw));
        if (!rec.ok()) return rec.error();
        page.new_or_updated.push_back(std::move(rec.value()));
      } else if (kind == "RemovedOrDeletedItem" || kind == "RemoveOrDeleted") {
        auto r = item.child_any_ns("RemovedItem");
        auto id = r ? r->child(kXrmNs, "Id") : Found<E>{};
        if (!id) return Error::Invalid("RemovedOrDeletedItem without RemovedItem/Id");
        auto parsed = parse_guid("RemovedItem Id", id->text());
        if (!parsed.ok()) return parsed.error();
        // No record has the nil GUID: a removal naming it is a broken reply (found by fuzzing).
        if (parsed->is_nil()) return Error::Invalid("RemovedItem Id is the nil GUID");
        page.removed.push_back(*parsed);
      }
    }
  }
  if (auto t = changes.child_any_ns("DataToken"); t && !t->nil()) page.data_version = t->text();
  if (auto more = changes.child_any_ns("MoreRecords")) {
    auto b = parse_bool("MoreRecords", more->text());
    if (!b.ok()) return b.error();
    page.more = *b;
  }
  if (auto c = changes.child_any_ns("PagingCookie"); c && !c->nil()) page.paging_cookie = c->text();
  return page;
}

}  // namespace crmsync::crm_soap::read
