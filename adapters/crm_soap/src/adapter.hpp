// SoapCrmAdapter: CrmAdapter over Execute envelopes, with retries (backoff + jitter,
// Retry-After honoured, bounded budget) and idempotent creates (SPEC X1). Internal: the
// factories of soap_crm_adapter.hpp make it. adapter.cpp has the exchange and the retries,
// adapter_reads.cpp the queries, adapter_writes.cpp the writes.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "auth.hpp"
#include "codec.hpp"
#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/crm_soap/transport.hpp"
#include "errors.hpp"

namespace crmsync::crm_soap {

inline constexpr std::size_t kMaxBatch = 1000;
// A bound on the pages of one lookup (a hostile or broken server could page forever).
inline constexpr int kMaxPages = 1000;

inline std::string entity_name(CrmEntity e) {
  return std::string(to_string(e));
}

// Splits statecode/statuscode (sent through SetState) from the other attributes.
struct SplitState {
  FieldMap rest;
  std::optional<std::int64_t> state;
  std::optional<std::int64_t> status;
};
Result<SplitState> split_state(const FieldMap& attrs);

class SoapCrmAdapter final : public CrmAdapter {
 public:
  SoapCrmAdapter(SoapCrmConfig config, Clock& clock, std::unique_ptr<http::Transport> transport);
  Result<CrmIdentity> who_am_i() override;
  Result<CrmPrivileges> privileges(const CrmId& user) override;
  Result<CrmChangePage> changes_since(CrmEntity entity, const std::string& data_version,
                                      int page_number, const std::string& paging_cookie) override;
  bool supports_change_tracking(CrmEntity entity) override;
  Result<CrmRecordPage> modified_since(CrmEntity entity, UtcTime since, int page_number,
                                       const std::string& paging_cookie) override;
  Result<CrmRecordPage> sweep_ids(CrmEntity entity, int page_number,
                                  const std::string& paging_cookie) override;
  Result<CrmRecord> retrieve(CrmEntity entity, const CrmId& id) override;
  // U4: the user's Outlook filters (userquery OutlookFilters 256, active), else the
  // organization's templates (savedquery OutlookTemplate 131072, active). The CRM shows a user
  // only their own userqueries; ownerid eq-userid says so for any CRM.
  Result<std::vector<SyncFilter>> sync_filters() override;
  Result<CrmRecordPage> filtered(const SyncFilter& filter, std::optional<UtcTime> modified_since,
                                 bool ids_only, int page_number,
                                 const std::string& paging_cookie) override;
  Result<void> create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) override;
  Result<void> update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                      const std::string& row_version) override;
  Result<void> remove(CrmEntity entity, const CrmId& id) override;
  Result<void> set_state(CrmEntity entity, const CrmId& id, int state, int status) override;
  Result<std::vector<CrmRecord>> find_contacts_by_emails(
      const std::vector<std::string>& addresses) override;
  Result<std::vector<EmailParty>> find_parties_by_emails(
      const std::vector<std::string>& addresses) override;
  Result<std::vector<EntityRef>> find_by_name(const std::string& entity, const std::string& text,
                                              std::size_t max) override;
  Result<std::vector<Result<void>>> execute_batch(
      const std::vector<CrmOperation>& operations) override;

 private:
  // Reads a reply's text straight into its result (codec.hpp's *_reply readers); false: not a
  // reply it takes, which is then read the general way, for its fault or its error.
  using InPlace = std::function<bool(std::string_view xml)>;

  Result<void> check(const FieldMap& attributes, const std::string& what);
  template <class T>
  Result<T> finish(Result<T> r, std::string_view what) {
    if (r.ok()) return r;
    return crm_soap::redact(r.error().context(std::string(what) + " reply"), secrets());
  }
  std::vector<std::string> secrets() const;
  // The attributes of a conditional Update (U6): state and status go with the others.
  // Servers that send RowVersion (Dynamics CRM 2015 Update 1 and later) set statecode and
  // statuscode through Update, and SetState after the Update would be a second write that
  // no version guards.
  static FieldMap conditional(const SplitState& split);
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
  // A RetrieveMultiple reply of synced entities, read in place when it can be.
  Result<EntityPage> entity_page(const RequestWriter& request, const std::string& what);
  // The same as one page of a query (CrmAdapter's page type).
  Result<CrmRecordPage> record_page(const RequestWriter& request, const std::string& what,
                                    int page_number);
  Result<CrmRecordPage> query_page(crm_soap::Query q, int page_number,
                                   const std::string& paging_cookie, const std::string& what);
  Result<CrmRecord> retrieve_columns(CrmEntity entity, const CrmId& id,
                                     const std::vector<std::string>& columns);
  bool exists(CrmEntity entity, const CrmId& id);
  Result<std::int64_t> current_state(CrmEntity entity, const CrmId& id);
  Result<void> apply_state(CrmEntity entity, const CrmId& id, std::optional<std::int64_t> state,
                           std::optional<std::int64_t> status);
  // One exchange: the HTTP reply as a SOAP body, or an error classified for retrying.
  Result<soap::Element> exchange(const std::string& envelope, bool& reply_lost, bool& auth_refused,
                                 const InPlace& in_place);
  // The reply limits (config's max_response_bytes).
  soap::ParseLimits reply_limits() const;
  std::chrono::milliseconds backoff(int attempt, std::optional<int> retry_after);
  void sleep(std::chrono::milliseconds d);
  // U3: the systemuserid of crm.act_as, looked up once (without CallerId) by its UPN.
  Result<void> resolve_caller();
  // One call with retries of transient failures. `reply_lost`: some attempt sent the whole
  // request but got no reply (the server may have acted on it). `in_place`, when given, reads
  // an HTTP 200 reply's text first; when it takes the reply, call() returns an empty Element.
  Result<soap::Element> call(const RequestWriter& request, const std::string& what,
                             bool* reply_lost = nullptr, const InPlace& in_place = {});
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

}  // namespace crmsync::crm_soap
