// The Organization Service wire format: Execute envelopes for each request the adapter
// sends, and readers for each response. No I/O here; tests call it directly.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/soap/envelope.hpp"

namespace crmsync::crm_soap {

inline constexpr std::string_view kServicesNs =
    "http://schemas.microsoft.com/xrm/2011/Contracts/Services";
inline constexpr std::string_view kXrmNs = "http://schemas.microsoft.com/xrm/2011/Contracts";
inline constexpr std::string_view kCrmNs = "http://schemas.microsoft.com/crm/2011/Contracts";
inline constexpr std::string_view kXrm2012Ns = "http://schemas.microsoft.com/xrm/2012/Contracts";
inline constexpr std::string_view kXrm71Ns = "http://schemas.microsoft.com/xrm/7.1/Contracts";
inline constexpr std::string_view kGenericNs =
    "http://schemas.datacontract.org/2004/07/System.Collections.Generic";
inline constexpr std::string_view kSerNs = "http://schemas.microsoft.com/2003/10/Serialization/";
inline constexpr std::string_view kArraysNs =
    "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
inline constexpr std::string_view kXsdNs = "http://www.w3.org/2001/XMLSchema";
inline constexpr std::string_view kExecuteAction =
    "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/Execute";

// Writes one OrganizationRequest element named `tag` ("request", or
// "g:OrganizationRequest" inside ExecuteMultiple). Prefixes a, b, c, d, e, f, g, i are
// declared on the Execute element by execute_envelope().
using RequestWriter = std::function<void(soap::XmlWriter& w, std::string_view tag)>;

// kInvalid when a text value cannot travel in XML (invalid UTF-8, control characters) or a
// value does not fit its attribute; names the attribute.
Result<void> check_attributes(const FieldMap& attributes);

RequestWriter create_request(std::string_view entity, const CrmId& id, const FieldMap& attrs);
RequestWriter retrieve_request(std::string_view entity, const CrmId& id,
                               const std::vector<std::string>& columns);
// With a row_version the update is conditional (SPEC U6): the Target carries RowVersion and
// ConcurrencyBehavior is IfRowVersionMatches (Dynamics CRM 2015 Update 1 and later), so the
// server refuses it with ConcurrencyVersionMismatch when the record moved. Without one: the
// 7.0 form, no condition.
RequestWriter update_request(std::string_view entity, const CrmId& id, const FieldMap& attrs,
                             const std::string& row_version = {});
RequestWriter delete_request(std::string_view entity, const CrmId& id);
RequestWriter set_state_request(std::string_view entity, const CrmId& id, int state, int status);
RequestWriter who_am_i_request();
RequestWriter retrieve_user_privileges_request(const CrmId& user);

struct Condition {
  std::string attribute;
  std::string op = "Equal";
  std::vector<std::string> values;
  std::string value_type = "d:string";  // the i:type of each value (d:dateTime, ...)
};
struct Query {
  std::string entity;
  std::vector<std::string> columns;
  std::vector<Condition> conditions;
  std::string filter_operator = "And";       // And | Or
  std::vector<std::string> order_ascending;  // attributes to sort by, in order
  int page_size = 500;
  int page_number = 1;
  std::string paging_cookie;  // "" = none
};
RequestWriter retrieve_multiple_request(const Query& query);
// RetrieveMultiple with a FetchExpression (the FetchXML escaped in a:Query); the reply is the
// same EntityCollection.
RequestWriter fetch_request(const std::string& fetchxml);
RequestWriter retrieve_entity_changes_request(std::string_view entity,
                                              const std::vector<std::string>& columns,
                                              const std::string& data_version, int page_number,
                                              const std::string& paging_cookie, int page_size);
// ContinueOnError=true, ReturnResponses=true. At most 1000 requests (the caller splits).
RequestWriter execute_multiple_request(const std::vector<RequestWriter>& requests);

// The whole SOAP envelope: <Execute> around one request. With `caller_id`, the request acts
// for that CRM user: <CallerId xmlns="http://schemas.microsoft.com/xrm/2011/Contracts">GUID
// </CallerId> in the SOAP header (the caller needs prvActOnBehalfOfAnotherUser).
std::string execute_envelope(const RequestWriter& request,
                             const std::optional<CrmId>& caller_id = std::nullopt);

// ---- reading ----

// The ExecuteResult element of an ExecuteResponse body; kInvalid otherwise.
Result<const soap::Element*> execute_result(const soap::Element& body);
// The value element of Results[key], or nullptr.
const soap::Element* result_value(const soap::Element& execute_result, std::string_view key);

// One attribute value (c:value with its i:type). nullopt for types the model does not hold
// (Money, decimals, ...), which callers skip. kInvalid for content that does not fit its type.
Result<std::optional<Value>> read_value(const soap::Element& value);
// An Entity element as a record (entity from LogicalName; ownerid, modifiedon lifted out).
Result<CrmRecord> read_entity(const soap::Element& entity);

Result<CrmIdentity> parse_who_am_i(const soap::Element& body);
Result<CrmRecord> parse_retrieve(const soap::Element& body);
struct EntityPage {
  std::vector<CrmRecord> records;
  bool more = false;
  std::string paging_cookie;
};
Result<EntityPage> parse_retrieve_multiple(const soap::Element& body);
// A RetrieveMultiple reply of an entity the model does not hold (systemuser, ...): each
// record's logical name, id (Entity/Id, else its `primary_id` attribute) and attributes.
struct AnyRecord {
  std::string entity;
  CrmId id;
  FieldMap attributes;
};
struct AnyPage {
  std::vector<AnyRecord> records;
  bool more = false;
  std::string paging_cookie;
};
Result<AnyPage> parse_retrieve_multiple_any(const soap::Element& body, std::string_view primary_id);
Result<CrmChangePage> parse_entity_changes(const soap::Element& body);
Result<std::vector<CrmId>> parse_user_privileges(const soap::Element& body);
struct BatchItem {
  int index = 0;
  std::optional<soap::Fault> fault;
};
Result<std::vector<BatchItem>> parse_execute_multiple(const soap::Element& body);

// The pages of a sync read in place from the reply's text, without an Element tree (issue #20:
// building and freeing the tree was a quarter of an initial sync): what parse_envelope and
// parse_entity_changes (parse_retrieve_multiple) give for a reply they accept; nullopt for any
// other reply (a fault, a malformed or refused one), which the caller then reads the general
// way, for its error.
std::optional<CrmChangePage> read_entity_changes_reply(std::string_view xml,
                                                       const soap::ParseLimits& limits);
std::optional<EntityPage> read_retrieve_multiple_reply(std::string_view xml,
                                                       const soap::ParseLimits& limits);

}  // namespace crmsync::crm_soap
