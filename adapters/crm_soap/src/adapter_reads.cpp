// SoapCrmAdapter's queries: change tracking pages, modified-since and id sweeps, the user's
// sync filters (U4), the E2 and party look-ups by e-mail address, single retrieves.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "adapter.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/model/text.hpp"
#include "fetch.hpp"
#include "search.hpp"

namespace crmsync::crm_soap {

Result<CrmChangePage> SoapCrmAdapter::changes_since(CrmEntity entity,
                                                    const std::string& data_version,
                                                    int page_number,
                                                    const std::string& paging_cookie) {
  if (page_number < 1) page_number = 1;
  const std::string what = "RetrieveEntityChanges " + entity_name(entity);
  std::optional<CrmChangePage> in_place;
  const soap::ParseLimits limits = reply_limits();
  auto body = call(crm_soap::retrieve_entity_changes_request(
                       entity_name(entity), mapping_for(entity).crm_columns(), data_version,
                       page_number, paging_cookie, config_.page_size),
                   what, nullptr, [&](std::string_view xml) {
                     in_place = crm_soap::read_entity_changes_reply(xml, limits);
                     return in_place.has_value();
                   });
  if (!body.ok()) return body.error();
  auto page = in_place ? Result<CrmChangePage>(std::move(*in_place))
                       : finish(crm_soap::parse_entity_changes(*body), what);
  if (!page.ok()) return page.error();
  page->page_number = page_number;
  return page;
}

bool SoapCrmAdapter::supports_change_tracking(CrmEntity entity) {
  // Learnt from the server once per entity: a one-record RetrieveEntityChanges. A fault
  // (no such message before CRM 2016, tracking off for the entity) means no; a transient
  // failure is not remembered and answers yes (changes_since will report the trouble).
  auto known = tracking_.find(entity);
  if (known != tracking_.end()) return known->second;
  auto body = call(
      crm_soap::retrieve_entity_changes_request(entity_name(entity), {"modifiedon"}, "", 1, "", 1),
      "RetrieveEntityChanges probe " + entity_name(entity));
  if (!body.ok() && body.error().retryable()) return true;
  const bool yes = body.ok() && crm_soap::parse_entity_changes(*body).ok();
  tracking_[entity] = yes;
  return yes;
}

Result<CrmRecordPage> SoapCrmAdapter::modified_since(CrmEntity entity, UtcTime since,
                                                     int page_number,
                                                     const std::string& paging_cookie) {
  crm_soap::Query q;
  q.entity = entity_name(entity);
  q.columns = mapping_for(entity).crm_columns();
  if (since.ms > 0) {                           // earlier than 1970: everything
    UtcTime whole{since.ms - since.ms % 1000};  // CRM keeps seconds: round down
    q.conditions = {{"modifiedon", "GreaterEqual", {whole.iso()}, "d:dateTime"}};
  }
  q.order_ascending = {"modifiedon", primary_key(entity)};
  return query_page(q, page_number, paging_cookie, "RetrieveMultiple " + q.entity);
}

Result<CrmRecordPage> SoapCrmAdapter::sweep_ids(CrmEntity entity, int page_number,
                                                const std::string& paging_cookie) {
  crm_soap::Query q;
  q.entity = entity_name(entity);
  q.columns = {primary_key(entity), "ownerid"};
  for (auto& c : mapping_for(entity).party_columns()) q.columns.push_back(std::move(c));
  q.order_ascending = {primary_key(entity)};
  return query_page(q, page_number, paging_cookie, "RetrieveMultiple " + q.entity + " ids");
}

Result<CrmRecord> SoapCrmAdapter::retrieve(CrmEntity entity, const CrmId& id) {
  return retrieve_columns(entity, id, mapping_for(entity).crm_columns());
}

// U4: the user's Outlook filters (userquery OutlookFilters 256, active), else the
// organization's templates (savedquery OutlookTemplate 131072, active). The CRM shows a user
// only their own userqueries; ownerid eq-userid says so for any CRM.
Result<std::vector<SyncFilter>> SoapCrmAdapter::sync_filters() {
  constexpr const char* kOutlookFilters = "256";
  constexpr const char* kOutlookTemplate = "131072";
  for (const auto& source :
       {std::pair{"userquery", kOutlookFilters}, std::pair{"savedquery", kOutlookTemplate}}) {
    // Named copies: lambdas below capture them (clang refuses structured bindings there).
    const std::string entity = source.first;
    const char* const querytype = source.second;
    crm_soap::Query q;
    q.entity = entity;
    q.columns = {"name", "returnedtypecode", "fetchxml"};
    q.conditions = {{"querytype", "Equal", {querytype}, "d:int"},
                    {"statecode", "Equal", {"0"}, "d:int"}};
    if (std::string_view(entity) == "userquery")
      q.conditions.push_back({"ownerid", "EqualUserId", {}, "d:string"});
    q.order_ascending = {std::string(entity) + "id"};
    std::vector<SyncFilter> filters;
    CRMSYNC_TRY(each_page(q, [&](const soap::Element& body) -> Result<PageEnd> {
      auto page = finish(crm_soap::parse_retrieve_multiple_any(body, std::string(entity) + "id"),
                         "RetrieveMultiple " + std::string(entity));
      if (!page.ok()) return page.error();
      for (const auto& r : page->records) {
        auto text = [&](const char* name) {
          auto it = r.attributes.find(name);
          const auto* s =
              it == r.attributes.end() ? nullptr : std::get_if<std::string>(&it->second);
          return s ? *s : std::string();
        };
        auto kind = parse_crm_entity(text("returnedtypecode"));
        if (!kind.ok()) continue;  // accounts, leads ...: not synced by crmsync
        filters.push_back({*kind, text("name"), text("fetchxml")});
      }
      return PageEnd{page->more, page->paging_cookie};
    }));
    if (!filters.empty()) return filters;
  }
  return std::vector<SyncFilter>{};
}

Result<CrmRecordPage> SoapCrmAdapter::filtered(const SyncFilter& filter,
                                               std::optional<UtcTime> modified_since, bool ids_only,
                                               int page_number, const std::string& paging_cookie) {
  const std::string name = entity_name(filter.entity);
  const std::string what =
      "RetrieveMultiple " + name + " (filter " + filter.name.substr(0, 80) + ")";
  crm_soap::FetchPage page;
  page.primary_key = primary_key(filter.entity);
  page.columns = ids_only ? std::vector<std::string>{page.primary_key}
                          : mapping_for(filter.entity).crm_columns();
  // FetchXML results carry no RowVersion member; versionnumber is the same number as a
  // column, so that the engine's U4 watermark can tell an edit from a record it has seen.
  if (!ids_only) page.columns.push_back("versionnumber");
  page.modified_since = modified_since;
  page.page = page_number < 1 ? 1 : page_number;
  page.count = config_.page_size;
  page.paging_cookie = paging_cookie;
  auto fetchxml = crm_soap::sync_fetchxml(filter.fetchxml, name, page);
  if (!fetchxml.ok()) return fetchxml.error();
  auto out = record_page(crm_soap::fetch_request(*fetchxml), what, page.page);
  if (!out.ok()) return out;
  for (auto& rec : out->records) {
    auto v = rec.attributes.find("versionnumber");
    if (v == rec.attributes.end()) continue;
    if (const auto* n = std::get_if<std::int64_t>(&v->second); n && rec.row_version.empty())
      rec.row_version = std::to_string(*n);
    rec.attributes.erase(v);  // bookkeeping, not a field
  }
  return out;
}

// U2: one page of the records whose name has the text (search.cpp).
Result<std::vector<EntityRef>> SoapCrmAdapter::find_by_name(const std::string& entity,
                                                            const std::string& text,
                                                            std::size_t max) {
  auto q = crm_soap::name_search_query(entity, text, max);
  if (!q.ok()) return q.error();
  const std::string what = "RetrieveMultiple " + q->entity;
  auto body = call(crm_soap::retrieve_multiple_request(*q), what);
  if (!body.ok()) return body.error();
  return finish(crm_soap::read_name_search(*body, q->entity), what);
}

Result<std::vector<CrmRecord>> SoapCrmAdapter::find_contacts_by_emails(
    const std::vector<std::string>& addresses) {
  for (const auto& a : addresses)
    if (a.empty() || !soap::is_xml_text(a))
      return Error::Invalid("find contacts: invalid e-mail address");
  // One RetrieveMultiple per chunk: (emailaddress1 In ...) Or (emailaddress2 In ...) Or ...
  constexpr std::size_t kChunk = 200;
  std::vector<CrmRecord> out;
  std::set<std::string> seen;  // a record matching several chunks is listed once
  for (std::size_t first = 0; first < addresses.size(); first += kChunk) {
    std::vector<std::string> chunk(addresses.begin() + static_cast<std::ptrdiff_t>(first),
                                   addresses.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                           first + kChunk, addresses.size())));
    crm_soap::Query q;
    q.entity = "contact";
    q.columns = mapping_for(CrmEntity::kContact).crm_columns();
    for (const char* a : {"emailaddress1", "emailaddress2", "emailaddress3"})
      q.conditions.push_back({a, "In", chunk, "d:string"});
    q.filter_operator = "Or";
    q.page_size = config_.page_size;
    for (int page = 1;; ++page) {
      q.page_number = page;
      auto parsed = entity_page(crm_soap::retrieve_multiple_request(q), "RetrieveMultiple contact");
      if (!parsed.ok()) return parsed.error();
      for (auto& r : parsed->records)
        if (seen.insert(r.id.str()).second) out.push_back(std::move(r));
      if (!parsed->more) break;
      if (page >= kMaxPages)
        return Error::Invalid("RetrieveMultiple contact: more than " + std::to_string(kMaxPages) +
                              " pages of matches");
      q.paging_cookie = parsed->paging_cookie;
    }
  }
  return out;
}

Result<std::vector<EmailParty>> SoapCrmAdapter::find_parties_by_emails(
    const std::vector<std::string>& addresses) {
  std::set<std::string> wanted;
  for (const auto& a : addresses) {
    if (a.empty() || !soap::is_xml_text(a))
      return Error::Invalid("find parties: invalid e-mail address");
    wanted.insert(ascii_lower(a));
  }
  // Per chunk of addresses: one RetrieveMultiple of system users, one of contacts.
  constexpr std::size_t kChunk = 200;
  const std::vector<std::string> all(wanted.begin(), wanted.end());
  std::vector<EmailParty> out;
  std::set<std::string> seen;  // address + record: a record listed once per address
  auto add = [&](const std::string& entity, const CrmId& id, const FieldMap& attrs,
                 std::initializer_list<const char*> address_attrs, const std::string& name) {
    for (const char* a : address_attrs) {
      auto it = attrs.find(a);
      const auto* text = it == attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
      if (text == nullptr) continue;
      std::string address = ascii_lower(*text);
      if (wanted.count(address) && seen.insert(address + " " + id.str()).second)
        out.push_back({address, EntityRef{entity, id, name}});
    }
  };
  auto name_of = [](const FieldMap& attrs) {
    auto it = attrs.find("fullname");
    const auto* s = it == attrs.end() ? nullptr : std::get_if<std::string>(&it->second);
    return s ? *s : std::string();
  };
  for (std::size_t first = 0; first < all.size(); first += kChunk) {
    std::vector<std::string> chunk(
        all.begin() + static_cast<std::ptrdiff_t>(first),
        all.begin() + static_cast<std::ptrdiff_t>(std::min(first + kChunk, all.size())));
    crm_soap::Query users;
    users.entity = "systemuser";
    users.columns = {"systemuserid", "fullname", "internalemailaddress"};
    users.conditions = {{"internalemailaddress", "In", chunk, "d:string"}};
    users.order_ascending = {"systemuserid"};
    CRMSYNC_TRY(each_page(users, [&](const soap::Element& body) -> Result<PageEnd> {
      auto page = finish(crm_soap::parse_retrieve_multiple_any(body, "systemuserid"),
                         "RetrieveMultiple systemuser");
      if (!page.ok()) return page.error();
      for (const auto& r : page->records)
        add("systemuser", r.id, r.attributes, {"internalemailaddress"}, name_of(r.attributes));
      return PageEnd{page->more, page->paging_cookie};
    }));
    crm_soap::Query contacts;
    contacts.entity = "contact";
    contacts.columns = {"contactid", "fullname", "emailaddress1", "emailaddress2", "emailaddress3"};
    for (const char* a : {"emailaddress1", "emailaddress2", "emailaddress3"})
      contacts.conditions.push_back({a, "In", chunk, "d:string"});
    contacts.filter_operator = "Or";
    contacts.order_ascending = {"contactid"};
    CRMSYNC_TRY(each_page(contacts, [&](const soap::Element& body) -> Result<PageEnd> {
      auto page = finish(crm_soap::parse_retrieve_multiple(body), "RetrieveMultiple contact");
      if (!page.ok()) return page.error();
      for (const auto& r : page->records)
        add("contact", r.id, r.attributes, {"emailaddress1", "emailaddress2", "emailaddress3"},
            name_of(r.attributes));
      return PageEnd{page->more, page->paging_cookie};
    }));
  }
  return out;
}

Result<EntityPage> SoapCrmAdapter::entity_page(const RequestWriter& request,
                                               const std::string& what) {
  std::optional<EntityPage> in_place;
  const soap::ParseLimits limits = reply_limits();
  auto body = call(request, what, nullptr, [&](std::string_view xml) {
    in_place = crm_soap::read_retrieve_multiple_reply(xml, limits);
    return in_place.has_value();
  });
  if (!body.ok()) return body.error();
  if (in_place) return std::move(*in_place);
  return finish(crm_soap::parse_retrieve_multiple(*body), what);
}

Result<CrmRecordPage> SoapCrmAdapter::query_page(crm_soap::Query q, int page_number,
                                                 const std::string& paging_cookie,
                                                 const std::string& what) {
  q.page_size = config_.page_size;
  q.page_number = page_number < 1 ? 1 : page_number;
  q.paging_cookie = paging_cookie;
  return record_page(crm_soap::retrieve_multiple_request(q), what, q.page_number);
}

Result<CrmRecordPage> SoapCrmAdapter::record_page(const RequestWriter& request,
                                                  const std::string& what, int page_number) {
  auto parsed = entity_page(request, what);
  if (!parsed.ok()) return parsed.error();
  CrmRecordPage page;
  page.records = std::move(parsed->records);
  page.more = parsed->more;
  page.paging_cookie = std::move(parsed->paging_cookie);
  page.page_number = page_number;
  return page;
}

Result<CrmRecord> SoapCrmAdapter::retrieve_columns(CrmEntity entity, const CrmId& id,
                                                   const std::vector<std::string>& columns) {
  const std::string what = "Retrieve " + entity_name(entity) + " " + id.str();
  auto body = call(crm_soap::retrieve_request(entity_name(entity), id, columns), what);
  if (!body.ok()) return body.error();
  return finish(crm_soap::parse_retrieve(*body), what);
}

bool SoapCrmAdapter::exists(CrmEntity entity, const CrmId& id) {
  return retrieve_columns(entity, id, {"modifiedon"}).ok();
}

Result<std::int64_t> SoapCrmAdapter::current_state(CrmEntity entity, const CrmId& id) {
  auto rec = retrieve_columns(entity, id, {"statecode"});
  if (!rec.ok()) return rec.error();
  auto it = rec->attributes.find("statecode");
  if (it == rec->attributes.end() || !std::holds_alternative<std::int64_t>(it->second))
    return Error::Invalid(entity_name(entity) + " " + id.str() + ": no statecode");
  return std::get<std::int64_t>(it->second);
}

}  // namespace crmsync::crm_soap
