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

}  // namespace crmsync::crm_soap
