// SoapCrmAdapter: CrmAdapter over Execute envelopes, with retries (backoff + jitter,
// Retry-After honoured, bounded budget) and idempotent creates (SPEC X1).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "auth.hpp"
#include "codec.hpp"
#include "crmsync/crm_soap/transport.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/model/text.hpp"
#include "errors.hpp"
#include "fetch.hpp"
#include "search.hpp"

namespace crmsync {
namespace {

using crm_soap::RequestWriter;
constexpr std::size_t kMaxBatch = 1000;
// A bound on the pages of one lookup (a hostile or broken server could page forever).
constexpr int kMaxPages = 1000;
constexpr std::string_view kServicePath = "XRMServices/2011/Organization.svc/web";

std::string entity_name(CrmEntity e) {
  return std::string(to_string(e));
}

// Splits statecode/statuscode (sent through SetState) from the other attributes.
struct SplitState {
  FieldMap rest;
  std::optional<std::int64_t> state;
  std::optional<std::int64_t> status;
};

Result<SplitState> split_state(const FieldMap& attrs) {
  SplitState out;
  for (const auto& [k, v] : attrs) {
    if (k == "statecode" || k == "statuscode") {
      if (std::holds_alternative<std::monostate>(v)) continue;  // cannot clear a state
      const auto* n = std::get_if<std::int64_t>(&v);
      if (!n) return Error::Invalid("attribute " + k + ": must be an integer option value");
      (k == "statecode" ? out.state : out.status) = *n;
    } else {
      out.rest.emplace(k, v);
    }
  }
  return out;
}

class SoapCrmAdapter final : public CrmAdapter {
 public:
  SoapCrmAdapter(SoapCrmConfig config, Clock& clock, std::unique_ptr<http::Transport> transport)
      : config_(std::move(config)), clock_(clock), transport_(std::move(transport)) {
    rng_.seed(config_.jitter_seed ? config_.jitter_seed : std::random_device{}());
    std::string base = config_.base_url;
    if (!base.empty() && base.back() != '/') base += '/';
    endpoint_ = base + std::string(kServicePath);
    if (auto url = http::Url::parse(endpoint_); !url.ok()) {
      config_error_ = url.error().context("crm url");
    } else {
      origin_ = url->origin();
      auto auth = crm_soap::make_token_source(config_.auth, clock_, *transport_);
      if (!auth.ok())
        config_error_ = auth.error();
      else
        auth_ = std::move(auth.value());
    }
    if (config_.max_attempts < 1) config_.max_attempts = 1;
  }

  Result<CrmIdentity> who_am_i() override {
    auto body = call(crm_soap::who_am_i_request(), "WhoAmI");
    if (!body.ok()) return body.error();
    return finish(crm_soap::parse_who_am_i(*body), "WhoAmI");
  }

  Result<CrmPrivileges> privileges(const CrmId& user) override {
    crm_soap::Query q;
    q.entity = "privilege";
    q.columns = {"privilegeid", "name"};
    q.conditions = {{"name", "Equal", {"prvSyncToOutlook"}, "d:string"}};
    q.page_size = 10;
    auto body = call(crm_soap::retrieve_multiple_request(q), "RetrieveMultiple privilege");
    if (!body.ok()) return body.error();
    auto page = finish(crm_soap::parse_retrieve_multiple(*body), "RetrieveMultiple privilege");
    if (!page.ok()) return page.error();
    CrmPrivileges out;
    if (page->records.empty()) return out;  // the org does not know the privilege
    const CrmId wanted = page->records.front().id;
    auto body2 = call(crm_soap::retrieve_user_privileges_request(user), "RetrieveUserPrivileges");
    if (!body2.ok()) return body2.error();
    auto ids = finish(crm_soap::parse_user_privileges(*body2), "RetrieveUserPrivileges");
    if (!ids.ok()) return ids.error();
    out.sync_to_outlook = std::find(ids->begin(), ids->end(), wanted) != ids->end();
    return out;
  }

  Result<CrmChangePage> changes_since(CrmEntity entity, const std::string& data_version,
                                      int page_number, const std::string& paging_cookie) override {
    if (page_number < 1) page_number = 1;
    const std::string what = "RetrieveEntityChanges " + entity_name(entity);
    auto body = call(crm_soap::retrieve_entity_changes_request(
                         entity_name(entity), mapping_for(entity).crm_columns(), data_version,
                         page_number, paging_cookie, config_.page_size),
                     what);
    if (!body.ok()) return body.error();
    auto page = finish(crm_soap::parse_entity_changes(*body), what);
    if (!page.ok()) return page.error();
    page->page_number = page_number;
    return page;
  }

  bool supports_change_tracking(CrmEntity entity) override {
    // Learnt from the server once per entity: a one-record RetrieveEntityChanges. A fault
    // (no such message before CRM 2016, tracking off for the entity) means no; a transient
    // failure is not remembered and answers yes (changes_since will report the trouble).
    auto known = tracking_.find(entity);
    if (known != tracking_.end()) return known->second;
    auto body = call(crm_soap::retrieve_entity_changes_request(entity_name(entity), {"modifiedon"},
                                                               "", 1, "", 1),
                     "RetrieveEntityChanges probe " + entity_name(entity));
    if (!body.ok() && body.error().retryable()) return true;
    const bool yes = body.ok() && crm_soap::parse_entity_changes(*body).ok();
    tracking_[entity] = yes;
    return yes;
  }

  Result<CrmRecordPage> modified_since(CrmEntity entity, UtcTime since, int page_number,
                                       const std::string& paging_cookie) override {
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

  Result<CrmRecordPage> sweep_ids(CrmEntity entity, int page_number,
                                  const std::string& paging_cookie) override {
    crm_soap::Query q;
    q.entity = entity_name(entity);
    q.columns = {primary_key(entity), "ownerid"};
    for (auto& c : mapping_for(entity).party_columns()) q.columns.push_back(std::move(c));
    q.order_ascending = {primary_key(entity)};
    return query_page(q, page_number, paging_cookie, "RetrieveMultiple " + q.entity + " ids");
  }

  Result<CrmRecord> retrieve(CrmEntity entity, const CrmId& id) override {
    return retrieve_columns(entity, id, mapping_for(entity).crm_columns());
  }

  // U4: the user's Outlook filters (userquery OutlookFilters 256, active), else the
  // organization's templates (savedquery OutlookTemplate 131072, active). The CRM shows a user
  // only their own userqueries; ownerid eq-userid says so for any CRM.
  Result<std::vector<SyncFilter>> sync_filters() override {
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

  Result<CrmRecordPage> filtered(const SyncFilter& filter, std::optional<UtcTime> modified_since,
                                 bool ids_only, int page_number,
                                 const std::string& paging_cookie) override {
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
    auto body = call(crm_soap::fetch_request(*fetchxml), what);
    if (!body.ok()) return body.error();
    auto parsed = finish(crm_soap::parse_retrieve_multiple(*body), what);
    if (!parsed.ok()) return parsed.error();
    CrmRecordPage out;
    out.records = std::move(parsed->records);
    for (auto& rec : out.records) {
      auto v = rec.attributes.find("versionnumber");
      if (v == rec.attributes.end()) continue;
      if (const auto* n = std::get_if<std::int64_t>(&v->second); n && rec.row_version.empty())
        rec.row_version = std::to_string(*n);
      rec.attributes.erase(v);  // bookkeeping, not a field
    }
    out.more = parsed->more;
    out.paging_cookie = std::move(parsed->paging_cookie);
    out.page_number = page.page;
    return out;
  }

  Result<void> create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) override {
    const std::string what = entity_name(entity) + " " + id.str();
    if (id.is_nil()) return Error::Invalid(what + ": create needs a client-chosen id");
    CRMSYNC_TRY(check(attributes, what));
    auto split = split_state(attributes);
    if (!split.ok()) return split.error().context(what);
    bool reply_lost = false;
    auto body = call(crm_soap::create_request(entity_name(entity), id, split->rest),
                     "Create " + what, &reply_lost);
    if (!body.ok()) {
      if (!(body.error().is(ErrorKind::kConflict) && reply_lost && exists(entity, id)))
        return body.error();
      // The first attempt did create the record; its reply was lost (SPEC X1).
    }
    if (split->state || split->status) return apply_state(entity, id, split->state, split->status);
    return Ok();
  }

  Result<void> update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                      const std::string& row_version) override {
    const std::string what = entity_name(entity) + " " + id.str();
    CRMSYNC_TRY(check(attributes, what));
    auto split = split_state(attributes);
    if (!split.ok()) return split.error().context(what);
    if (!row_version.empty()) {
      // U6: one conditional Update; a ConcurrencyVersionMismatch fault is kConflict.
      auto body =
          call(crm_soap::update_request(entity_name(entity), id, conditional(*split), row_version),
               "Update " + what);
      if (!body.ok()) return body.error();
      return Ok();
    }
    if (!split->rest.empty()) {
      auto body =
          call(crm_soap::update_request(entity_name(entity), id, split->rest), "Update " + what);
      if (!body.ok()) return body.error();
    }
    if (split->state || split->status) return apply_state(entity, id, split->state, split->status);
    return Ok();
  }

  Result<void> remove(CrmEntity entity, const CrmId& id) override {
    const std::string what = "Delete " + entity_name(entity) + " " + id.str();
    bool reply_lost = false;
    auto body = call(crm_soap::delete_request(entity_name(entity), id), what, &reply_lost);
    // A retry of a delete whose reply was lost finds the record gone: the delete happened.
    if (!body.ok() && !(reply_lost && body.error().is(ErrorKind::kNotFound))) return body.error();
    return Ok();
  }

  Result<void> set_state(CrmEntity entity, const CrmId& id, int state, int status) override {
    const std::string what = "SetState " + entity_name(entity) + " " + id.str();
    auto body = call(crm_soap::set_state_request(entity_name(entity), id, state, status), what);
    if (!body.ok()) return body.error();
    return Ok();
  }

  Result<std::vector<CrmRecord>> find_contacts_by_emails(
      const std::vector<std::string>& addresses) override {
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
        auto body = call(crm_soap::retrieve_multiple_request(q), "RetrieveMultiple contact");
        if (!body.ok()) return body.error();
        auto parsed = finish(crm_soap::parse_retrieve_multiple(*body), "RetrieveMultiple contact");
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

  // U2: one page of the records whose name has the text (search.cpp).
  Result<std::vector<EntityRef>> find_by_name(const std::string& entity, const std::string& text,
                                              std::size_t max) override {
    auto q = crm_soap::name_search_query(entity, text, max);
    if (!q.ok()) return q.error();
    const std::string what = "RetrieveMultiple " + q->entity;
    auto body = call(crm_soap::retrieve_multiple_request(*q), what);
    if (!body.ok()) return body.error();
    return finish(crm_soap::read_name_search(*body, q->entity), what);
  }

  Result<std::vector<EmailParty>> find_parties_by_emails(
      const std::vector<std::string>& addresses) override {
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
      contacts.columns = {"contactid", "fullname", "emailaddress1", "emailaddress2",
                          "emailaddress3"};
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

  Result<std::vector<Result<void>>> execute_batch(
      const std::vector<CrmOperation>& operations) override {
    // Each operation becomes one or two requests (an update's state goes through SetState).
    struct Expanded {
      RequestWriter writer;
      std::size_t op;
      bool is_create;
    };
    std::vector<Result<void>> results(operations.size(), Ok());
    std::vector<std::vector<Expanded>> per_op(operations.size());
    for (std::size_t i = 0; i < operations.size(); ++i) {
      const CrmOperation& op = operations[i];
      const std::string name = entity_name(op.entity);
      const std::string what = name + " " + op.id.str();
      using T = CrmOperation::Type;
      if (op.type == T::kCreate || op.type == T::kUpdate) {
        if (auto c = check(op.attributes, what); !c.ok()) {
          results[i] = c.error();
          continue;
        }
        auto split = split_state(op.attributes);
        if (!split.ok()) {
          results[i] = split.error().context(what);
          continue;
        }
        if (op.type == T::kCreate && op.id.is_nil()) {
          results[i] = Error::Invalid(what + ": create needs a client-chosen id");
          continue;
        }
        if (op.type == T::kUpdate && !op.row_version.empty()) {
          per_op[i].push_back(
              {crm_soap::update_request(name, op.id, conditional(*split), op.row_version), i,
               false});
          continue;
        }
        if (op.type == T::kCreate || !split->rest.empty())
          per_op[i].push_back({op.type == T::kCreate
                                   ? crm_soap::create_request(name, op.id, split->rest)
                                   : crm_soap::update_request(name, op.id, split->rest),
                               i, op.type == T::kCreate});
        if (split->state || split->status) {
          if (!split->state) {
            auto current = current_state(op.entity, op.id);
            if (!current.ok()) {
              results[i] = current.error();
              per_op[i].clear();
              continue;
            }
            split->state = *current;
          }
          per_op[i].push_back(
              {crm_soap::set_state_request(name, op.id, static_cast<int>(*split->state),
                                           static_cast<int>(split->status.value_or(-1))),
               i, false});
        }
      } else if (op.type == T::kDelete) {
        per_op[i].push_back({crm_soap::delete_request(name, op.id), i, false});
      } else {
        per_op[i].push_back(
            {crm_soap::set_state_request(name, op.id, op.state, op.status), i, false});
      }
    }
    // Chunks of at most kMaxBatch requests; an operation's requests stay together.
    std::vector<std::vector<Expanded>> chunks(1);
    for (auto& reqs : per_op) {
      if (reqs.empty()) continue;
      if (chunks.back().size() + reqs.size() > kMaxBatch) chunks.emplace_back();
      for (auto& r : reqs) chunks.back().push_back(std::move(r));
    }
    bool first = true;
    for (const auto& chunk : chunks) {
      if (chunk.empty()) continue;
      std::vector<RequestWriter> writers;
      for (const auto& e : chunk) writers.push_back(e.writer);
      bool reply_lost = false;
      auto body = call(crm_soap::execute_multiple_request(writers), "ExecuteMultiple", &reply_lost);
      auto items = body.ok() ? finish(crm_soap::parse_execute_multiple(*body), "ExecuteMultiple")
                             : Result<std::vector<crm_soap::BatchItem>>(body.error());
      if (!items.ok()) {
        if (first) return items.error();
        for (const auto& e : chunk)
          if (results[e.op].ok()) results[e.op] = items.error();
        continue;
      }
      first = false;
      for (const auto& item : *items) {
        if (item.index < 0 || static_cast<std::size_t>(item.index) >= chunk.size()) continue;
        if (!item.fault) continue;
        const Expanded& e = chunk[item.index];
        if (!results[e.op].ok()) continue;  // the operation's first failure wins
        Error err = crm_soap::redact(crm_soap::error_from_fault(*item.fault), secrets());
        const CrmOperation& op = operations[e.op];
        if (e.is_create && err.is(ErrorKind::kConflict) && reply_lost && exists(op.entity, op.id))
          continue;  // created by the attempt whose reply was lost
        results[e.op] = err.context(entity_name(op.entity) + " " + op.id.str());
      }
    }
    return results;
  }

 private:
  Result<void> check(const FieldMap& attributes, const std::string& what) {
    auto c = crm_soap::check_attributes(attributes);
    if (!c.ok()) return c.error().context(what);
    return Ok();
  }

  template <class T>
  Result<T> finish(Result<T> r, std::string_view what) {
    if (r.ok()) return r;
    return crm_soap::redact(r.error().context(std::string(what) + " reply"), secrets());
  }

  std::vector<std::string> secrets() const {
    std::vector<std::string> s = auth_ ? auth_->secrets() : std::vector<std::string>{};
    if (!config_.auth.client_secret.empty()) s.push_back(config_.auth.client_secret);
    return s;
  }

  // The attributes of a conditional Update (U6): state and status go with the others.
  // Servers that send RowVersion (Dynamics CRM 2015 Update 1 and later) set statecode and
  // statuscode through Update, and SetState after the Update would be a second write that
  // no version guards.
  static FieldMap conditional(const SplitState& split) {
    FieldMap attrs = split.rest;
    if (split.state) attrs.insert_or_assign("statecode", Value{*split.state});
    if (split.status) attrs.insert_or_assign("statuscode", Value{*split.status});
    return attrs;
  }

  static std::string primary_key(CrmEntity entity) {
    return entity == CrmEntity::kContact ? "contactid" : "activityid";
  }

  struct PageEnd {
    bool more = false;
    std::string paging_cookie;
  };
  // Every page of a query: on_page reads one reply and says whether another page follows.
  template <class OnPage>
  Result<void> each_page(crm_soap::Query q, OnPage on_page) {
    const std::string what = "RetrieveMultiple " + q.entity;
    q.page_size = config_.page_size;
    for (int page = 1;; ++page) {
      q.page_number = page;
      auto body = call(crm_soap::retrieve_multiple_request(q), what);
      if (!body.ok()) return body.error();
      auto end = on_page(*body);
      if (!end.ok()) return end.error();
      if (!end->more) return Ok();
      if (page >= kMaxPages)
        return Error::Invalid(what + ": more than " + std::to_string(kMaxPages) + " pages");
      q.paging_cookie = end->paging_cookie;
    }
  }

  Result<CrmRecordPage> query_page(crm_soap::Query q, int page_number,
                                   const std::string& paging_cookie, const std::string& what) {
    q.page_size = config_.page_size;
    q.page_number = page_number < 1 ? 1 : page_number;
    q.paging_cookie = paging_cookie;
    auto body = call(crm_soap::retrieve_multiple_request(q), what);
    if (!body.ok()) return body.error();
    auto parsed = finish(crm_soap::parse_retrieve_multiple(*body), what);
    if (!parsed.ok()) return parsed.error();
    CrmRecordPage page;
    page.records = std::move(parsed->records);
    page.more = parsed->more;
    page.paging_cookie = std::move(parsed->paging_cookie);
    page.page_number = q.page_number;
    return page;
  }

  Result<CrmRecord> retrieve_columns(CrmEntity entity, const CrmId& id,
                                     const std::vector<std::string>& columns) {
    const std::string what = "Retrieve " + entity_name(entity) + " " + id.str();
    auto body = call(crm_soap::retrieve_request(entity_name(entity), id, columns), what);
    if (!body.ok()) return body.error();
    return finish(crm_soap::parse_retrieve(*body), what);
  }

  bool exists(CrmEntity entity, const CrmId& id) {
    return retrieve_columns(entity, id, {"modifiedon"}).ok();
  }

  Result<std::int64_t> current_state(CrmEntity entity, const CrmId& id) {
    auto rec = retrieve_columns(entity, id, {"statecode"});
    if (!rec.ok()) return rec.error();
    auto it = rec->attributes.find("statecode");
    if (it == rec->attributes.end() || !std::holds_alternative<std::int64_t>(it->second))
      return Error::Invalid(entity_name(entity) + " " + id.str() + ": no statecode");
    return std::get<std::int64_t>(it->second);
  }

  Result<void> apply_state(CrmEntity entity, const CrmId& id, std::optional<std::int64_t> state,
                           std::optional<std::int64_t> status) {
    if (!state) {
      auto current = current_state(entity, id);
      if (!current.ok()) return current.error();
      state = *current;
    }
    return set_state(entity, id, static_cast<int>(*state), static_cast<int>(status.value_or(-1)));
  }

  // One exchange: the HTTP reply as a SOAP body, or an error classified for retrying.
  Result<soap::Element> exchange(const std::string& envelope, bool& reply_lost,
                                 bool& auth_refused) {
    auto token = auth_->token();
    if (!token.ok()) return token.error();
    http::Request req;
    req.method = "POST";
    req.url = endpoint_;
    req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                   {"SOAPAction", std::string(crm_soap::kExecuteAction)},
                   {"Accept", "application/xml, text/xml, */*"}};
    if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
    req.body = envelope;
    http::SendInfo info;
    auto res = transport_->send(req, &info);
    if (info.resent_after_write) reply_lost = true;
    if (!res.ok()) {
      if (info.request_written) reply_lost = true;
      return res.error();
    }
    const int status = res->status;
    auto retry_after = crm_soap::retry_after_header_ms(res->header("Retry-After"));
    if (status == 401 || status == 403) {
      auth_refused = true;
      return Error::Permission(fmt::format("HTTP {} from {}: not authorized", status, origin_));
    }
    if (status == 429)
      return Error::Transient(fmt::format("HTTP 429 from {}: too many requests", origin_),
                              retry_after);
    if (status == 502 || status == 503 || status == 504 || status == 408)
      return Error::Transient(fmt::format("HTTP {} from {}", status, origin_), retry_after);
    soap::ParseLimits limits;
    limits.max_bytes = config_.max_response_bytes;
    auto env = soap::parse_envelope(res->body, limits);
    if (!env.ok()) {
      if (status >= 500)
        return Error::Transient(
            fmt::format("HTTP {} from {} without a readable fault", status, origin_));
      return env.error().context(fmt::format("reply from {} (HTTP {})", origin_, status));
    }
    if (env->fault) return crm_soap::error_from_fault(*env->fault);
    if (status != 200) {
      if (status >= 500) return Error::Transient(fmt::format("HTTP {} from {}", status, origin_));
      return Error::Invalid(fmt::format("HTTP {} from {}", status, origin_));
    }
    if (!env->body) return Error::Invalid("reply from " + origin_ + " has an empty Body");
    return std::move(*env->body);
  }

  std::chrono::milliseconds backoff(int attempt, std::optional<int> retry_after) {
    using ms = std::chrono::milliseconds;
    double base = static_cast<double>(config_.backoff_base.count());
    double cap = static_cast<double>(config_.backoff_max.count());
    double exp = std::min(cap, base * static_cast<double>(1ull << std::min(attempt - 1, 20)));
    // "Equal jitter": half fixed, half random, so waits never collapse to zero.
    std::uniform_real_distribution<double> dist(0.5, 1.0);
    ms wait{static_cast<std::int64_t>(exp * dist(rng_))};
    if (retry_after) wait = std::max(wait, ms{*retry_after});
    return wait;
  }

  void sleep(std::chrono::milliseconds d) {
    if (config_.sleep)
      config_.sleep(d);
    else
      std::this_thread::sleep_for(d);
  }

  // One call with retries of transient failures. `reply_lost`: some attempt sent the whole
  // request but got no reply (the server may have acted on it).
  // U3: the systemuserid of crm.act_as, looked up once (without CallerId) by its UPN.
  Result<void> resolve_caller() {
    if (config_.act_as.empty() || caller_id_ || resolving_caller_) return Ok();
    resolving_caller_ = true;
    struct Reset {
      bool& flag;
      ~Reset() { flag = false; }
    } reset{resolving_caller_};
    std::vector<CrmId> found;
    for (const char* attribute : {"domainname", "internalemailaddress"}) {
      crm_soap::Query q;
      q.entity = "systemuser";
      q.columns = {"systemuserid", attribute};
      q.conditions = {{attribute, "Equal", {config_.act_as}, "d:string"}};
      q.page_size = 2;
      auto body = call(crm_soap::retrieve_multiple_request(q), "RetrieveMultiple systemuser");
      if (!body.ok()) return body.error().context("crm.act_as " + config_.act_as);
      auto page = finish(crm_soap::parse_retrieve_multiple_any(*body, "systemuserid"),
                         "RetrieveMultiple systemuser");
      if (!page.ok()) return page.error();
      for (const auto& r : page->records) found.push_back(r.id);
      if (!found.empty()) break;
    }
    if (found.empty())
      return Error::Permission("crm.act_as " + config_.act_as +
                               ": no CRM user has that user name (domainname) or e-mail address");
    if (found.size() > 1)
      return Error::Invalid("crm.act_as " + config_.act_as + " names more than one CRM user");
    caller_id_ = found.front();
    return Ok();
  }

  Result<soap::Element> call(const RequestWriter& request, const std::string& what,
                             bool* reply_lost = nullptr) {
    if (config_error_) return *config_error_;
    CRMSYNC_TRY(resolve_caller());
    const std::string envelope =
        crm_soap::execute_envelope(request, resolving_caller_ ? std::nullopt : caller_id_);
    const MonoTime start = clock_.mono();
    std::chrono::milliseconds waited{0};
    bool lost = false;
    bool refreshed = false;
    for (int attempt = 1;; ++attempt) {
      bool auth_refused = false;
      auto body = exchange(envelope, lost, auth_refused);
      if (reply_lost) *reply_lost = lost;
      if (body.ok()) return body;
      Error err = body.error();
      if (auth_refused && !refreshed && auth_->invalidate()) {
        refreshed = true;  // a cached token the server no longer takes: fetch one and retry
        --attempt;
        continue;
      }
      if (!err.retryable() || attempt >= config_.max_attempts)
        return crm_soap::redact(
            attempt > 1 && err.retryable()
                ? err.context(fmt::format("{} (gave up after {} attempts)", what, attempt))
                : err.context(what),
            secrets());
      auto wait = backoff(attempt, err.retry_after_ms());
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.mono() - start);
      auto spent = std::max(elapsed, waited);
      if (spent + wait > config_.retry_budget)
        return crm_soap::redact(err.context(fmt::format("{} (retry budget of {} ms spent)", what,
                                                        config_.retry_budget.count())),
                                secrets());
      sleep(wait);
      waited += wait;
    }
  }

  SoapCrmConfig config_;
  Clock& clock_;
  std::unique_ptr<http::Transport> transport_;
  std::unique_ptr<crm_soap::TokenSource> auth_;
  std::optional<Error> config_error_;
  std::optional<CrmId> caller_id_;  // crm.act_as, once resolved (CallerId)
  bool resolving_caller_ = false;
  std::string endpoint_;
  std::string origin_;
  std::mt19937_64 rng_;
  std::map<CrmEntity, bool> tracking_;
};

}  // namespace

std::unique_ptr<CrmAdapter> make_soap_crm_adapter(const SoapCrmConfig& config, Clock& clock,
                                                  std::unique_ptr<http::Transport> transport) {
  return std::make_unique<SoapCrmAdapter>(config, clock, std::move(transport));
}

namespace {
http::ClientOptions client_options(const SoapCrmConfig& config) {
  http::ClientOptions options;
  options.ca_file = config.ca_file;
  options.resolve_timeout = config.connect_timeout;
  options.connect_timeout = config.connect_timeout;
  options.io_timeout = config.request_timeout;
  options.max_response_bytes = config.max_response_bytes;
  return options;
}
}  // namespace

std::unique_ptr<CrmAdapter> make_soap_crm_adapter(const SoapCrmConfig& config, Clock& clock) {
  return make_soap_crm_adapter(config, clock,
                               std::make_unique<http::Client>(client_options(config)));
}

Result<std::unique_ptr<CrmAdapter>> open_soap_crm_adapter(const SoapCrmConfig& config,
                                                          Clock& clock) {
  http::ClientOptions options = client_options(config);
  if (config.auth.type == SoapCrmAuth::Type::kNegotiate) {
    if (config.auth.username.empty() || config.auth.password_file.empty())
      return Error::Invalid("crm negotiate auth needs username and password_file");
    if (auto ok = http::negotiate_available(); !ok) return ok.error().context("crm negotiate auth");
    auto a = http::make_negotiate_authenticator({config.auth.username, config.auth.password_file});
    if (!a) return a.error().context("crm negotiate auth");
    options.authenticator = std::move(*a);
  }
  return make_soap_crm_adapter(config, clock, std::make_unique<http::Client>(options));
}

}  // namespace crmsync
