// Forwarding ports (STYLE.md 2, LevelDB's EnvWrapper): every method of StoreAdapter and
// CrmAdapter passed to another adapter, the batched and capability methods included, so that
// a decorator (a fault injector, a counter, a gate) overrides only what it changes and the
// caller still takes the inner adapter's batched paths. The inner adapter is borrowed: it
// must outlive the wrapper. Same thread rules as the port wrapped.
#pragma once

#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/core/store_adapter.hpp"

namespace crmsync {

class StoreWrapper : public StoreAdapter {
 public:
  explicit StoreWrapper(StoreAdapter& inner) : inner_(inner) {}
  StoreAdapter& inner() const { return inner_; }

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override {
    return inner_.scan_modified_since(kind, since);
  }
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind kind, UtcTime since) override {
    return inner_.scan_headers_since(kind, since);
  }
  bool has_change_positions() override { return inner_.has_change_positions(); }
  Result<ChangedHeaders> headers_changed_after(ItemKind kind,
                                               const std::string& position) override {
    return inner_.headers_changed_after(kind, position);
  }
  Result<StoreItem> get(const EntryId& id) override { return inner_.get(id); }
  std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>& ids) override {
    return inner_.get_many(ids);
  }
  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& id) override {
    return inner_.find_by_crm_id(id);
  }
  std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>& ids) override {
    return inner_.find_by_crm_ids(ids);
  }
  Result<StoreItem> create(const NewStoreItem& item) override { return inner_.create(item); }
  std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>& items) override {
    return inner_.create_many(items);
  }
  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override {
    return inner_.update(id, expected_change_key, changes, link);
  }
  Result<void> remove(const EntryId& id) override { return inner_.remove(id); }
  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override {
    return inner_.events_after(after, max);
  }
  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override {
    return inner_.wait_for_events(after, timeout);
  }
  Result<std::int64_t> record_decision(const StoreEvent& decision) override {
    return inner_.record_decision(decision);
  }
  bool watch_changes(std::function<void()> on_change) override {
    return inner_.watch_changes(std::move(on_change));
  }
  LeaseStore* lease_store() override { return inner_.lease_store(); }
  HandoffQueue* handoff_queue() override { return inner_.handoff_queue(); }

 private:
  StoreAdapter& inner_;
};

class CrmWrapper : public CrmAdapter {
 public:
  explicit CrmWrapper(CrmAdapter& inner) : inner_(inner) {}
  CrmAdapter& inner() const { return inner_; }

  Result<CrmIdentity> who_am_i() override { return inner_.who_am_i(); }
  Result<CrmPrivileges> privileges(const CrmId& user) override { return inner_.privileges(user); }
  Result<CrmChangePage> changes_since(CrmEntity entity, const std::string& data_version,
                                      int page_number, const std::string& paging_cookie) override {
    return inner_.changes_since(entity, data_version, page_number, paging_cookie);
  }
  bool supports_change_tracking(CrmEntity entity) override {
    return inner_.supports_change_tracking(entity);
  }
  Result<CrmRecordPage> modified_since(CrmEntity entity, UtcTime since, int page_number,
                                       const std::string& paging_cookie) override {
    return inner_.modified_since(entity, since, page_number, paging_cookie);
  }
  Result<CrmRecordPage> sweep_ids(CrmEntity entity, int page_number,
                                  const std::string& paging_cookie) override {
    return inner_.sweep_ids(entity, page_number, paging_cookie);
  }
  Result<CrmRecord> retrieve(CrmEntity entity, const CrmId& id) override {
    return inner_.retrieve(entity, id);
  }
  Result<std::vector<SyncFilter>> sync_filters() override { return inner_.sync_filters(); }
  Result<CrmRecordPage> filtered(const SyncFilter& filter, std::optional<UtcTime> modified_since,
                                 bool ids_only, int page_number,
                                 const std::string& paging_cookie) override {
    return inner_.filtered(filter, modified_since, ids_only, page_number, paging_cookie);
  }
  Result<std::vector<EntityRef>> find_by_name(const std::string& entity, const std::string& text,
                                              std::size_t max) override {
    return inner_.find_by_name(entity, text, max);
  }
  Result<void> create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) override {
    return inner_.create(entity, id, attributes);
  }
  Result<void> update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                      const std::string& row_version) override {
    return inner_.update(entity, id, attributes, row_version);
  }
  Result<void> remove(CrmEntity entity, const CrmId& id) override {
    return inner_.remove(entity, id);
  }
  Result<void> set_state(CrmEntity entity, const CrmId& id, int state, int status) override {
    return inner_.set_state(entity, id, state, status);
  }
  Result<std::vector<CrmRecord>> find_contacts_by_emails(
      const std::vector<std::string>& addresses) override {
    return inner_.find_contacts_by_emails(addresses);
  }
  Result<std::vector<EmailParty>> find_parties_by_emails(
      const std::vector<std::string>& addresses) override {
    return inner_.find_parties_by_emails(addresses);
  }
  Result<std::vector<Result<void>>> execute_batch(
      const std::vector<CrmOperation>& operations) override {
    return inner_.execute_batch(operations);
  }

 private:
  CrmAdapter& inner_;
};

}  // namespace crmsync
