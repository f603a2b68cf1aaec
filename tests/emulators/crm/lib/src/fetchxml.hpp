// FetchXML in RetrieveMultiple (FetchExpression) and the users' Outlook synchronization
// filters (SPEC U4): the userquery and savedquery entities, the organization's default Outlook
// filter templates and each new user's filters made from them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model.hpp"
#include "store.hpp"

namespace crm_emulator {

namespace err {
// Invalid FetchXML: not well-formed, not of the fetch schema (an unknown element or operator),
// a DTD, too large or too deep. IDS_INVALID_XML "Invalid XML." of the CRM error table.
inline constexpr int kInvalidXml = -2147220991;  // 0x80040201
}  // namespace err

// savedquery/userquery querytype values (Microsoft.Crm.Sdk SavedQueryQueryType).
namespace querytype {
inline constexpr int kOfflineFilters = 16;
inline constexpr int kOutlookFilters = 256;
inline constexpr int kOfflineTemplate = 8192;
inline constexpr int kOutlookTemplate = 131072;
}  // namespace querytype

// The emulator's limits on one FetchXML document.
inline constexpr std::size_t kMaxFetchXmlBytes = 256u * 1024u;
inline constexpr int kMaxFetchDepth = 32;         // nested filters and link-entities
inline constexpr int kMaxFetchLinkEntities = 15;  // Dataverse's documented maximum

// Adds userquery and savedquery to the metadata (metadata.cpp's build()).
void add_query_entities(std::map<std::string, EntityMeta>& entities);

struct FetchContext {
  std::string user_id;
  std::string business_unit_id;
  std::int64_t now = 0;  // UTC seconds; 0: the clock
};

// One page of a FetchXML query's result, in order.
struct FetchPage {
  std::string entity;
  bool all_attributes = false;
  std::vector<std::string> columns;  // of the top entity
  std::vector<Record> rows;
  bool more = false;
  std::string cookie;       // the next page's paging cookie (plain text), "" when no rows
  std::int64_t total = -1;  // with returntotalrecordcount="true"
};

// Parses and checks `fetchxml` (throws Fault: err::kInvalidXml for what the fetch schema
// refuses, kAttributeNotFound / kEntityNotFound for names the metadata lacks), then evaluates it.
FetchPage run_fetch(Store& store, const std::string& fetchxml, const FetchContext& ctx);

// Only checks it (userquery/savedquery writes); throws as run_fetch.
void check_fetchxml(const std::string& fetchxml);

// Whether `user_id` sees record `r` of a RetrieveMultiple (a userquery: its owner only).
bool visible_to(const Record& r, const std::string& user_id);

// userquery/savedquery attribute checks on Create/Update (fetchxml parses, returnedtypecode
// is an entity, querytype is there). Throws Fault.
void check_query_record(const std::string& entity, const Attributes& attrs);

// The organization's default Outlook filter templates (savedquery, querytype 131072), made
// when there are none. Returns how many were made.
int seed_outlook_templates(Store& store);

// The user's Outlook filters (userquery, querytype 256) made from the active templates.
// Returns the ids made.
std::vector<std::string> create_default_filters(Store& store, const std::string& user_id);

// A userquery or savedquery record, checked (Fault) and stored; its id.
std::string insert_query(Store& store, const std::string& entity, Attributes attrs,
                         const std::string& owner_id);

}  // namespace crm_emulator
