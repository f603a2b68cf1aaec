#include "codec.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

namespace crmsync::crm_soap {
namespace {

using soap::Element;
using soap::XmlWriter;

// How an integer attribute travels: most are whole numbers, option sets are
// OptionSetValue, two-option attributes are booleans.
enum class IntWire { kInt, kOptionSet, kBoolean };

IntWire int_wire(std::string_view attribute) {
  static const std::set<std::string_view, std::less<>> option_sets = {
      "statecode",        "statuscode",
      "prioritycode",     "preferredcontactmethodcode",
      "gendercode",       "familystatuscode",
      "instancetypecode", "participationtypemask",
      "customertypecode", "address1_addresstypecode",
      "accountrolecode",  "leadsourcecode"};
  static const std::set<std::string_view, std::less<>> booleans = {"isalldayevent",
                                                                   "directioncode",
                                                                   "isbilled",
                                                                   "isworkflowcreated",
                                                                   "donotemail",
                                                                   "donotphone",
                                                                   "donotfax",
                                                                   "donotpostalmail",
                                                                   "readreceiptrequested",
                                                                   "deliveryreceiptrequested"};
  if (option_sets.count(attribute)) return IntWire::kOptionSet;
  if (booleans.count(attribute)) return IntWire::kBoolean;
  return IntWire::kInt;
}

std::string trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string(s);
}

Result<std::int64_t> parse_int(std::string_view what, const std::string& text) {
  std::string t = trim(text);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc{} || p != t.data() + t.size())
    return Error::Invalid(std::string(what) + ": \"" + t.substr(0, 40) + "\" is not a number");
  return v;
}

Result<bool> parse_bool(std::string_view what, const std::string& text) {
  std::string t = trim(text);
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  return Error::Invalid(std::string(what) + ": \"" + t.substr(0, 40) + "\" is not a boolean");
}

Result<CrmId> parse_guid(std::string_view what, const std::string& text) {
  auto id = CrmId::parse(trim(text));
  if (!id.ok())
    return Error::Invalid(std::string(what) + ": \"" + text.substr(0, 40) + "\" is not a GUID");
  return id;
}

// ---- writing ----

void write_entity_reference(XmlWriter& w, std::string_view tag, const EntityRef& ref) {
  w.open(tag).attr("i:type", "a:EntityReference");
  w.leaf("a:Id", ref.id.is_nil() ? "00000000-0000-0000-0000-000000000000" : ref.id.str());
  w.leaf("a:LogicalName", ref.entity);
  if (ref.name.empty())
    w.nil("a:Name");
  else
    w.leaf("a:Name", ref.name);
  w.close();
}

void write_value(XmlWriter& w, std::string_view tag, std::string_view attribute, const Value& v);

void write_attribute(XmlWriter& w, std::string_view key, const Value& v) {
  w.open("a:KeyValuePairOfstringanyType");
  w.leaf("b:key", key);
  write_value(w, "b:value", key, v);
  w.close();
}

// Members in DataContract order; RowVersion (8.0) comes last, after RelatedEntities.
void write_entity_body(XmlWriter& w, std::string_view entity, const CrmId& id,
                       const FieldMap& attrs, const std::string& row_version = {}) {
  w.open("a:Attributes");
  for (const auto& [k, v] : attrs) write_attribute(w, k, v);
  w.close();
  w.nil("a:EntityState");
  w.open("a:FormattedValues").close();
  w.leaf("a:Id", id.is_nil() ? "00000000-0000-0000-0000-000000000000" : id.str());
  w.leaf("a:LogicalName", entity);
  w.open("a:RelatedEntities").close();
  if (!row_version.empty()) w.leaf("a:RowVersion", row_version);
}

void write_party_list(XmlWriter& w, std::string_view tag, const PartyList& parties) {
  w.open(tag).attr("i:type", "a:EntityCollection");
  w.open("a:Entities");
  for (const auto& p : parties) {
    // A resolved party names its record and keeps the address it was matched on (as CRM
    // does); an unresolved one is its address alone.
    FieldMap attrs;
    if (p.ref) attrs["partyid"] = *p.ref;
    if (!p.address.empty()) attrs["addressused"] = p.address;
    w.open("a:Entity");
    write_entity_body(w, "activityparty", CrmId{}, attrs);
    w.close();
  }
  w.close();
  w.leaf("a:EntityName", "activityparty");
  w.nil("a:MinActiveRowVersion");
  w.leaf("a:MoreRecords", "false");
  w.nil("a:PagingCookie");
  w.leaf("a:TotalRecordCount", "-1");
  w.leaf("a:TotalRecordCountLimitExceeded", "false");
  w.close();
}

void write_typed(XmlWriter& w, std::string_view tag, std::string_view type, std::string_view text) {
  w.open(tag).attr("i:type", type).text(text).close();
}

void write_option_set(XmlWriter& w, std::string_view tag, std::int64_t n) {
  w.open(tag).attr("i:type", "a:OptionSetValue").leaf("a:Value", std::to_string(n)).close();
}

void write_value(XmlWriter& w, std::string_view tag, std::string_view attribute, const Value& v) {
  struct Visitor {
    XmlWriter& w;
    std::string_view tag;
    std::string_view attribute;
    void operator()(std::monostate) const { w.nil(tag); }
    void operator()(const std::string& s) const { write_typed(w, tag, "d:string", s); }
    void operator()(std::int64_t n) const {
      switch (int_wire(attribute)) {
        case IntWire::kOptionSet:
          write_option_set(w, tag, n);
          break;
        case IntWire::kBoolean:
          write_typed(w, tag, "d:boolean", n ? "true" : "false");
          break;
        case IntWire::kInt:
          write_typed(w, tag,
                      n >= std::numeric_limits<std::int32_t>::min() &&
                              n <= std::numeric_limits<std::int32_t>::max()
                          ? "d:int"
                          : "d:long",
                      std::to_string(n));
          break;
      }
    }
    void operator()(bool b) const { write_typed(w, tag, "d:boolean", b ? "true" : "false"); }
    void operator()(const UtcTime& t) const {
      // CRM keeps seconds; send whole seconds in UTC with Z.
      write_typed(w, tag, "d:dateTime", UtcTime{t.ms - ((t.ms % 1000) + 1000) % 1000}.iso());
    }
    void operator()(const Date& d) const {
      write_typed(w, tag, "d:dateTime", d.iso() + "T00:00:00Z");
    }
    void operator()(const EntityRef& r) const { write_entity_reference(w, tag, r); }
    void operator()(const PartyList& p) const { write_party_list(w, tag, p); }
  };
  std::visit(Visitor{w, tag, attribute}, v);
}

void write_column_set(XmlWriter& w, std::string_view tag, const std::vector<std::string>& cols,
                      bool typed) {
  w.open(tag);
  if (typed) w.attr("i:type", "a:ColumnSet");
  w.leaf("a:AllColumns", "false");
  w.open("a:Columns");
  for (const auto& c : cols) w.leaf("f:string", c);
  w.close();
  w.close();
}

void write_paging(XmlWriter& w, std::string_view tag, bool typed, int count, int page,
                  const std::string& cookie) {
  w.open(tag);
  if (typed) w.attr("i:type", "a:PagingInfo");
  w.leaf("a:Count", std::to_string(count));
  w.leaf("a:PageNumber", std::to_string(page));
  if (cookie.empty())
    w.nil("a:PagingCookie");
  else
    w.leaf("a:PagingCookie", cookie);
  w.leaf("a:ReturnTotalRecordCount", "false");
  w.close();
}

// <tag i:type="type"><a:Parameters>…</a:Parameters><a:RequestId i:nil/><a:RequestName/></tag>
void write_request(XmlWriter& w, std::string_view tag, std::string_view type, std::string_view name,
                   const std::function<void(XmlWriter&)>& params) {
  w.open(tag).attr("i:type", type);
  w.open("a:Parameters");
  params(w);
  w.close();
  w.nil("a:RequestId");
  w.leaf("a:RequestName", name);
  w.close();
}

void param_open(XmlWriter& w, std::string_view key) {
  w.open("a:KeyValuePairOfstringanyType").leaf("b:key", key);
}

bool text_ok(const std::string& s) {
  return soap::is_xml_text(s);
}

}  // namespace

Result<void> check_attributes(const FieldMap& attributes) {
  for (const auto& kv : attributes) {
    // Not a structured binding: clang 14 cannot capture those in a lambda.
    const std::string& k = kv.first;
    const Value& v = kv.second;
    auto bad = [&](std::string_view why) {
      return Error::Invalid("attribute " + k + ": " + std::string(why));
    };
    if (!text_ok(k) || k.empty()) return Error::Invalid("invalid attribute name");
    if (const auto* s = std::get_if<std::string>(&v); s && !text_ok(*s))
      return bad("text is not valid UTF-8 or holds control characters");
    if (const auto* r = std::get_if<EntityRef>(&v); r && (!text_ok(r->entity) || !text_ok(r->name)))
      return bad("reference holds invalid text");
    if (const auto* n = std::get_if<std::int64_t>(&v);
        n && int_wire(k) == IntWire::kOptionSet &&
        (*n < std::numeric_limits<std::int32_t>::min() ||
         *n > std::numeric_limits<std::int32_t>::max()))
      return bad("option set value out of range");
    if (const auto* p = std::get_if<PartyList>(&v)) {
      for (const auto& party : *p) {
        if (!text_ok(party.address) || !text_ok(party.name) ||
            (party.ref && !text_ok(party.ref->entity)))
          return bad("party holds invalid text");
        if (!party.ref && party.address.empty()) return bad("party has neither record nor address");
      }
    }
  }
  return Ok();
}

RequestWriter create_request(std::string_view entity, const CrmId& id, const FieldMap& attrs) {
  return [entity = std::string(entity), id, attrs](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:CreateRequest", "Create", [&](XmlWriter& w) {
      param_open(w, "Target");
      w.open("b:value").attr("i:type", "a:Entity");
      write_entity_body(w, entity, id, attrs);
      w.close().close();
    });
  };
}

RequestWriter update_request(std::string_view entity, const CrmId& id, const FieldMap& attrs,
                             const std::string& row_version) {
  return
      [entity = std::string(entity), id, attrs, row_version](XmlWriter& w, std::string_view tag) {
        write_request(w, tag, "a:UpdateRequest", "Update", [&](XmlWriter& w) {
          param_open(w, "Target");
          w.open("b:value").attr("i:type", "a:Entity");
          write_entity_body(w, entity, id, attrs, row_version);
          w.close().close();
          if (!row_version.empty()) {
            // An xrm/7.1 enum, serialized by member name (DataContract).
            param_open(w, "ConcurrencyBehavior");
            w.open("b:value")
                .attr("i:type", "h:ConcurrencyBehavior")
                .attr("xmlns:h", kXrm71Ns)
                .text("IfRowVersionMatches")
                .close();
            w.close();
          }
        });
      };
}

RequestWriter retrieve_request(std::string_view entity, const CrmId& id,
                               const std::vector<std::string>& columns) {
  return [entity = std::string(entity), id, columns](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:RetrieveRequest", "Retrieve", [&](XmlWriter& w) {
      param_open(w, "Target");
      write_entity_reference(w, "b:value", EntityRef{entity, id, ""});
      w.close();
      param_open(w, "ColumnSet");
      write_column_set(w, "b:value", columns, true);
      w.close();
    });
  };
}

RequestWriter delete_request(std::string_view entity, const CrmId& id) {
  return [entity = std::string(entity), id](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:DeleteRequest", "Delete", [&](XmlWriter& w) {
      param_open(w, "Target");
      write_entity_reference(w, "b:value", EntityRef{entity, id, ""});
      w.close();
    });
  };
}

RequestWriter set_state_request(std::string_view entity, const CrmId& id, int state, int status) {
  return [entity = std::string(entity), id, state, status](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "c:SetStateRequest", "SetState", [&](XmlWriter& w) {
      param_open(w, "EntityMoniker");
      write_entity_reference(w, "b:value", EntityRef{entity, id, ""});
      w.close();
      param_open(w, "State");
      write_option_set(w, "b:value", state);
      w.close();
      param_open(w, "Status");
      write_option_set(w, "b:value", status);
      w.close();
    });
  };
}

RequestWriter who_am_i_request() {
  return [](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "c:WhoAmIRequest", "WhoAmI", [](XmlWriter&) {});
  };
}

RequestWriter retrieve_user_privileges_request(const CrmId& user) {
  return [user](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "c:RetrieveUserPrivilegesRequest", "RetrieveUserPrivileges",
                  [&](XmlWriter& w) {
                    param_open(w, "UserId");
                    write_typed(w, "b:value", "e:guid", user.str());
                    w.close();
                  });
  };
}

RequestWriter retrieve_multiple_request(const Query& q) {
  return [q](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:RetrieveMultipleRequest", "RetrieveMultiple", [&](XmlWriter& w) {
      param_open(w, "Query");
      w.open("b:value").attr("i:type", "a:QueryExpression");
      write_column_set(w, "a:ColumnSet", q.columns, false);
      w.open("a:Criteria");
      w.open("a:Conditions");
      for (const auto& c : q.conditions) {
        w.open("a:ConditionExpression");
        w.leaf("a:AttributeName", c.attribute);
        w.leaf("a:Operator", c.op);
        w.open("a:Values");
        for (const auto& v : c.values) write_typed(w, "f:anyType", c.value_type, v);
        w.close();
        w.close();
      }
      w.close();
      w.leaf("a:FilterOperator", q.filter_operator);
      w.open("a:Filters").close();
      w.close();
      w.leaf("a:Distinct", "false");
      w.leaf("a:EntityName", q.entity);
      w.open("a:LinkEntities").close();
      w.open("a:Orders");
      for (const auto& attribute : q.order_ascending) {
        w.open("a:OrderExpression");
        w.leaf("a:AttributeName", attribute);
        w.leaf("a:OrderType", "Ascending");
        w.close();
      }
      w.close();
      write_paging(w, "a:PageInfo", false, q.page_size, q.page_number, q.paging_cookie);
      w.leaf("a:NoLock", "false");
      w.close().close();
    });
  };
}

RequestWriter fetch_request(const std::string& fetchxml) {
  return [fetchxml](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:RetrieveMultipleRequest", "RetrieveMultiple", [&](XmlWriter& w) {
      param_open(w, "Query");
      w.open("b:value").attr("i:type", "a:FetchExpression");
      w.leaf("a:Query", fetchxml);
      w.close().close();
    });
  };
}

RequestWriter retrieve_entity_changes_request(std::string_view entity,
                                              const std::vector<std::string>& columns,
                                              const std::string& data_version, int page_number,
                                              const std::string& paging_cookie, int page_size) {
  return [entity = std::string(entity), columns, data_version, page_number, paging_cookie,
          page_size](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:RetrieveEntityChangesRequest", "RetrieveEntityChanges",
                  [&](XmlWriter& w) {
                    param_open(w, "EntityName");
                    write_typed(w, "b:value", "d:string", entity);
                    w.close();
                    param_open(w, "Columns");
                    write_column_set(w, "b:value", columns, true);
                    w.close();
                    param_open(w, "PageInfo");
                    write_paging(w, "b:value", true, page_size, page_number, paging_cookie);
                    w.close();
                    if (!data_version.empty()) {
                      param_open(w, "DataVersion");
                      write_typed(w, "b:value", "d:string", data_version);
                      w.close();
                    }
                  });
  };
}

RequestWriter execute_multiple_request(const std::vector<RequestWriter>& requests) {
  return [requests](XmlWriter& w, std::string_view tag) {
    write_request(w, tag, "a:ExecuteMultipleRequest", "ExecuteMultiple", [&](XmlWriter& w) {
      param_open(w, "Requests");
      w.open("b:value").attr("i:type", "g:OrganizationRequestCollection");
      for (const auto& r : requests) r(w, "g:OrganizationRequest");
      w.close().close();
      param_open(w, "Settings");
      w.open("b:value").attr("i:type", "g:ExecuteMultipleSettings");
      w.leaf("g:ContinueOnError", "true");
      w.leaf("g:ReturnResponses", "true");
      w.close().close();
    });
  };
}

std::string execute_envelope(const RequestWriter& request, const std::optional<CrmId>& caller_id) {
  XmlWriter w;
  w.open("s:Envelope").attr("xmlns:s", soap::kSoapEnvNs);
  if (caller_id) {
    w.open("s:Header");
    w.open("CallerId").attr("xmlns", kXrmNs).text(caller_id->str()).close();
    w.close();
  }
  w.open("s:Body");
  w.open("Execute")
      .attr("xmlns", kServicesNs)
      .attr("xmlns:i", soap::kXsiNs)
      .attr("xmlns:a", kXrmNs)
      .attr("xmlns:b", kGenericNs)
      .attr("xmlns:c", kCrmNs)
      .attr("xmlns:d", kXsdNs)
      .attr("xmlns:e", kSerNs)
      .attr("xmlns:f", kArraysNs)
      .attr("xmlns:g", kXrm2012Ns);
  request(w, "request");
  return w.take();
}

// ---- reading ----

Result<const Element*> execute_result(const Element& body) {
  if (!body.is(kServicesNs, "ExecuteResponse"))
    return Error::Invalid("expected ExecuteResponse, got <" + body.name() + ">");
  const Element* r = body.child(kServicesNs, "ExecuteResult");
  if (!r) return Error::Invalid("ExecuteResponse has no ExecuteResult");
  return r;
}

const Element* result_value(const Element& result, std::string_view key) {
  const Element* results = result.child(kXrmNs, "Results");
  if (!results) return nullptr;
  for (const auto& kv : results->children()) {
    const Element* k = kv.child(kGenericNs, "key");
    if (k && k->text() == key) return kv.child(kGenericNs, "value");
  }
  return nullptr;
}

namespace {

struct RawEntity {
  std::string logical_name;
  CrmId id;
  FieldMap attributes;
  std::string row_version;
};

Result<RawEntity> read_raw_entity(const Element& e);

Result<PartyList> read_party_list(const Element& v) {
  PartyList parties;
  const Element* entities = v.child(kXrmNs, "Entities");
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

}  // namespace

Result<std::optional<Value>> read_value(const Element& v) {
  using Out = std::optional<Value>;
  if (v.nil()) return Out{Value{}};
  auto type = v.xsi_type();
  if (!type.ok()) return type.error();
  if (!*type) return Out{Value{v.text()}};
  const soap::QName& t = **type;
  if (t.ns == kXsdNs) {
    if (t.local == "string") return Out{Value{v.text()}};
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
      auto time = UtcTime::parse(trim(v.text()));
      if (!time.ok())
        return Error::Invalid("dateTime \"" + v.text().substr(0, 40) + "\" is not a date");
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
      const Element* val = v.child(kXrmNs, "Value");
      if (!val) return Error::Invalid("OptionSetValue without Value");
      auto n = parse_int("OptionSetValue", val->text());
      if (!n.ok()) return n.error();
      return Out{Value{*n}};
    }
    if (t.local == "EntityReference") {
      const Element* id = v.child(kXrmNs, "Id");
      const Element* ln = v.child(kXrmNs, "LogicalName");
      if (!id || !ln) return Error::Invalid("EntityReference without Id or LogicalName");
      auto parsed = parse_guid("EntityReference Id", id->text());
      if (!parsed.ok()) return parsed.error();
      EntityRef ref{ln->text(), *parsed, ""};
      if (const Element* name = v.child(kXrmNs, "Name"); name && !name->nil())
        ref.name = name->text();
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

namespace {

Result<RawEntity> read_raw_entity(const Element& e) {
  RawEntity out;
  if (const Element* ln = e.child(kXrmNs, "LogicalName")) out.logical_name = ln->text();
  if (const Element* attrs = e.child(kXrmNs, "Attributes")) {
    for (const auto& kv : attrs->children()) {
      const Element* k = kv.child(kGenericNs, "key");
      const Element* v = kv.child(kGenericNs, "value");
      if (!k || !v) continue;
      auto value = read_value(*v);
      if (!value.ok()) return value.error().context("attribute " + k->text().substr(0, 100));
      if (value->has_value()) out.attributes[k->text()] = std::move(**value);
    }
  }
  if (const Element* id = e.child(kXrmNs, "Id"); id && !id->nil()) {
    auto parsed = parse_guid("Entity Id", id->text());
    if (!parsed.ok()) return parsed.error();
    out.id = *parsed;
  }
  if (const Element* v = e.child(kXrmNs, "RowVersion"); v && !v->nil()) {
    out.row_version = trim(v->text());
    if (out.row_version.size() > 100 || !soap::is_xml_text(out.row_version))
      return Error::Invalid("Entity RowVersion is not a version");
  }
  return out;
}

Result<CrmRecord> to_record(RawEntity raw) {
  auto entity = parse_crm_entity(raw.logical_name);
  if (!entity.ok())
    return Error::Invalid("unexpected entity \"" + raw.logical_name.substr(0, 60) + "\"");
  CrmRecord r;
  r.entity = *entity;
  const std::string pk =
      r.entity == CrmEntity::kContact ? std::string("contactid") : std::string("activityid");
  if (raw.id.is_nil()) {
    if (auto it = raw.attributes.find(pk); it != raw.attributes.end())
      if (const auto* s = std::get_if<std::string>(&it->second))
        if (auto id = CrmId::parse(*s); id.ok()) raw.id = *id;
  }
  if (raw.id.is_nil()) return Error::Invalid(raw.logical_name + " record without an id");
  r.id = raw.id;
  r.row_version = std::move(raw.row_version);
  raw.attributes.erase(pk);
  if (auto it = raw.attributes.find("modifiedon"); it != raw.attributes.end())
    if (const auto* t = std::get_if<UtcTime>(&it->second)) r.modified_on = *t;
  if (auto it = raw.attributes.find("ownerid"); it != raw.attributes.end())
    if (const auto* o = std::get_if<EntityRef>(&it->second)) r.owner = o->id;
  r.attributes = std::move(raw.attributes);
  return r;
}

Result<const Element*> required_value(const Element& body, std::string_view key) {
  auto result = execute_result(body);
  if (!result.ok()) return result.error();
  const Element* v = result_value(**result, key);
  if (!v) return Error::Invalid("response has no " + std::string(key));
  return v;
}

}  // namespace

Result<CrmRecord> read_entity(const Element& entity) {
  auto raw = read_raw_entity(entity);
  if (!raw.ok()) return raw.error();
  return to_record(std::move(raw.value()));
}

Result<CrmIdentity> parse_who_am_i(const Element& body) {
  CrmIdentity out;
  for (auto [key, target] :
       {std::pair{"UserId", &out.user_id}, std::pair{"BusinessUnitId", &out.business_unit_id},
        std::pair{"OrganizationId", &out.organization_id}}) {
    auto v = required_value(body, key);
    if (!v.ok()) return v.error();
    auto id = parse_guid(key, (*v)->text());
    if (!id.ok()) return id.error();
    *target = *id;
  }
  return out;
}

Result<CrmRecord> parse_retrieve(const Element& body) {
  auto v = required_value(body, "Entity");
  if (!v.ok()) return v.error();
  return read_entity(**v);
}

namespace {

// The id of an entity whose Entity/Id is nil: its primary id attribute, when a GUID.
void id_from_attribute(CrmId& id, const FieldMap& attributes, std::string_view primary_id) {
  if (!id.is_nil()) return;
  if (auto it = attributes.find(std::string(primary_id)); it != attributes.end())
    if (const auto* s = std::get_if<std::string>(&it->second))
      if (auto parsed = CrmId::parse(*s); parsed.ok()) id = *parsed;
}

// A RetrieveMultiple EntityCollection: `take` gets each entity read raw; the page's paging
// fields are filled in.
template <class Page, class Take>
Result<Page> read_collection(const Element& body, Take take) {
  auto v = required_value(body, "EntityCollection");
  if (!v.ok()) return v.error();
  Page page;
  if (const Element* entities = (*v)->child(kXrmNs, "Entities")) {
    for (const auto& e : entities->children()) {
      if (!e.is(kXrmNs, "Entity")) continue;
      auto raw = read_raw_entity(e);
      if (!raw.ok()) return raw.error();
      if (auto r = take(std::move(*raw), page); !r.ok()) return r.error();
    }
  }
  if (const Element* more = (*v)->child(kXrmNs, "MoreRecords")) {
    auto b = parse_bool("MoreRecords", more->text());
    if (!b.ok()) return b.error();
    page.more = *b;
  }
  if (const Element* c = (*v)->child(kXrmNs, "PagingCookie"); c && !c->nil())
    page.paging_cookie = c->text();
  return page;
}

}  // namespace

Result<EntityPage> parse_retrieve_multiple(const Element& body) {
  return read_collection<EntityPage>(body, [](auto raw, EntityPage& page) -> Result<void> {
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

Result<AnyPage> parse_retrieve_multiple_any(const Element& body, std::string_view primary_id) {
  return read_collection<AnyPage>(body, [&](auto raw, AnyPage& page) -> Result<void> {
    AnyRecord r{std::move(raw.logical_name), raw.id, std::move(raw.attributes)};
    id_from_attribute(r.id, r.attributes, primary_id);
    if (r.id.is_nil()) return Error::Invalid(r.entity.substr(0, 60) + " record without an id");
    page.records.push_back(std::move(r));
    return Ok();
  });
}

Result<CrmChangePage> parse_entity_changes(const Element& body) {
  auto v = required_value(body, "EntityChanges");
  if (!v.ok()) return v.error();
  const Element& changes = **v;
  CrmChangePage page;
  if (const Element* list = changes.child_any_ns("Changes")) {
    for (const auto& item : list->children()) {
      auto type = item.xsi_type();
      if (!type.ok()) return type.error();
      std::string kind = *type ? (*type)->local : std::string{};
      if (kind.empty())
        if (const Element* t = item.child_any_ns("Type")) kind = t->text();
      if (kind == "NewOrUpdatedItem" || kind == "NewOrUpdated") {
        const Element* e = item.child_any_ns("NewOrUpdatedEntity");
        if (!e) return Error::Invalid("NewOrUpdatedItem without NewOrUpdatedEntity");
        auto rec = read_entity(*e);
        if (!rec.ok()) return rec.error();
        page.new_or_updated.push_back(std::move(rec.value()));
      } else if (kind == "RemovedOrDeletedItem" || kind == "RemoveOrDeleted") {
        const Element* r = item.child_any_ns("RemovedItem");
        const Element* id = r ? r->child(kXrmNs, "Id") : nullptr;
        if (!id) return Error::Invalid("RemovedOrDeletedItem without RemovedItem/Id");
        auto parsed = parse_guid("RemovedItem Id", id->text());
        if (!parsed.ok()) return parsed.error();
        // No record has the nil GUID: a removal naming it is a broken reply (found by fuzzing).
        if (parsed->is_nil()) return Error::Invalid("RemovedItem Id is the nil GUID");
        page.removed.push_back(*parsed);
      }
    }
  }
  if (const Element* t = changes.child_any_ns("DataToken"); t && !t->nil())
    page.data_version = t->text();
  if (const Element* more = changes.child_any_ns("MoreRecords")) {
    auto b = parse_bool("MoreRecords", more->text());
    if (!b.ok()) return b.error();
    page.more = *b;
  }
  if (const Element* c = changes.child_any_ns("PagingCookie"); c && !c->nil())
    page.paging_cookie = c->text();
  return page;
}

Result<std::vector<CrmId>> parse_user_privileges(const Element& body) {
  auto v = required_value(body, "RolePrivileges");
  if (!v.ok()) return v.error();
  std::vector<CrmId> ids;
  for (const auto& rp : (*v)->children()) {
    const Element* pid = rp.child_any_ns("PrivilegeId");
    if (!pid) continue;
    auto id = parse_guid("PrivilegeId", pid->text());
    if (!id.ok()) return id.error();
    ids.push_back(*id);
  }
  return ids;
}

Result<std::vector<BatchItem>> parse_execute_multiple(const Element& body) {
  auto v = required_value(body, "Responses");
  if (!v.ok()) return v.error();
  std::vector<BatchItem> items;
  for (const auto& item : (*v)->children()) {
    BatchItem out;
    const Element* idx = item.child_any_ns("RequestIndex");
    if (!idx) return Error::Invalid("ExecuteMultipleResponseItem without RequestIndex");
    auto n = parse_int("RequestIndex", idx->text());
    if (!n.ok()) return n.error();
    if (*n < 0 || *n > 1'000'000) return Error::Invalid("RequestIndex out of range");
    out.index = static_cast<int>(*n);
    if (const Element* f = item.child_any_ns("Fault"); f && !f->nil()) {
      auto fault = soap::parse_organization_fault(*f);
      if (!fault.ok()) return fault.error();
      out.fault = std::move(fault.value());
    }
    items.push_back(std::move(out));
  }
  return items;
}

}  // namespace crmsync::crm_soap
