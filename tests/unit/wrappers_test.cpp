// The ports' forwarding wrappers (core/ports wrappers.hpp) pass every method on, the batched
// and capability methods included.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "crmsync/core/lease.hpp"
#include "crmsync/core/wrappers.hpp"

using namespace crmsync;

namespace {

// Records the name of each method called; answers with errors or empty values.
class RecordingStore final : public StoreAdapter {
 public:
  std::set<std::string> calls;
  Error no(const char* m) {
    calls.insert(m);
    return Error::NotFound(m);
  }
  Result<std::vector<StoreItem>> scan_modified_since(ItemKind, UtcTime) override {
    return no("scan_modified_since");
  }
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind, UtcTime) override {
    return no("scan_headers_since");
  }
  bool has_change_positions() override {
    calls.insert("has_change_positions");
    return false;
  }
  Result<ChangedHeaders> headers_changed_after(ItemKind, const std::string&) override {
    return no("headers_changed_after");
  }
  Result<StoreItem> get(const EntryId&) override { return no("get"); }
  std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>&) override {
    calls.insert("get_many");
    return {};
  }
  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId&) override {
    return no("find_by_crm_id");
  }
  std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>&) override {
    calls.insert("find_by_crm_ids");
    return {};
  }
  Result<StoreItem> create(const NewStoreItem&) override { return no("create"); }
  std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>&) override {
    calls.insert("create_many");
    return {};
  }
  Result<std::string> update(const EntryId&, const std::string&, const FieldMap&,
                             const std::optional<CrmLink>&) override {
    return no("update");
  }
  Result<void> remove(const EntryId&) override { return no("remove"); }
  Result<std::vector<StoreEvent>> events_after(std::int64_t, std::size_t) override {
    return no("events_after");
  }
  bool wait_for_events(std::int64_t, std::chrono::milliseconds) override {
    calls.insert("wait_for_events");
    return false;
  }
  Result<std::int64_t> record_decision(const StoreEvent&) override { return no("record_decision"); }
  bool watch_changes(std::function<void()>) override {
    calls.insert("watch_changes");
    return false;
  }
  LeaseStore* lease_store() override {
    calls.insert("lease_store");
    return nullptr;
  }
  HandoffQueue* handoff_queue() override {
    calls.insert("handoff_queue");
    return nullptr;
  }
};

class RecordingCrm final : public CrmAdapter {
 public:
  std::set<std::string> calls;
  Error no(const char* m) {
    calls.insert(m);
    return Error::NotFound(m);
  }
  Result<CrmIdentity> who_am_i() override { return no("who_am_i"); }
  Result<CrmPrivileges> privileges(const CrmId&) override { return no("privileges"); }
  Result<CrmChangePage> changes_since(CrmEntity, const std::string&, int,
                                      const std::string&) override {
    return no("changes_since");
  }
  bool supports_change_tracking(CrmEntity) override {
    calls.insert("supports_change_tracking");
    return false;
  }
  Result<CrmRecordPage> modified_since(CrmEntity, UtcTime, int, const std::string&) override {
    return no("modified_since");
  }
  Result<CrmRecordPage> sweep_ids(CrmEntity, int, const std::string&) override {
    return no("sweep_ids");
  }
  Result<CrmRecord> retrieve(CrmEntity, const CrmId&) override { return no("retrieve"); }
  Result<std::vector<EntityRef>> find_by_name(const std::string&, const std::string&,
                                              std::size_t) override {
    return no("find_by_name");
  }
  Result<void> create(CrmEntity, const CrmId&, const FieldMap&) override { return no("create"); }
  Result<void> update(CrmEntity, const CrmId&, const FieldMap&, const std::string&) override {
    return no("update");
  }
  Result<void> remove(CrmEntity, const CrmId&) override { return no("remove"); }
  Result<void> set_state(CrmEntity, const CrmId&, int, int) override { return no("set_state"); }
  Result<std::vector<CrmRecord>> find_contacts_by_emails(const std::vector<std::string>&) override {
    return no("find_contacts_by_emails");
  }
  Result<std::vector<EmailParty>> find_parties_by_emails(const std::vector<std::string>&) override {
    return no("find_parties_by_emails");
  }
  Result<std::vector<Result<void>>> execute_batch(const std::vector<CrmOperation>&) override {
    return no("execute_batch");
  }
};

}  // namespace

TEST_CASE("ports: StoreWrapper forwards every StoreAdapter method, batched ones included") {
  RecordingStore inner;
  StoreWrapper w(inner);
  StoreAdapter& s = w;
  EntryId id("E1");
  CrmId crm = CrmId::generate();
  (void)s.scan_modified_since(ItemKind::kContact, UtcTime{});
  (void)s.scan_headers_since(ItemKind::kContact, UtcTime{});
  (void)s.has_change_positions();
  (void)s.headers_changed_after(ItemKind::kContact, "");
  (void)s.get(id);
  (void)s.get_many({id});
  (void)s.find_by_crm_id(crm);
  (void)s.find_by_crm_ids({crm});
  (void)s.create(NewStoreItem{});
  (void)s.create_many({NewStoreItem{}});
  (void)s.update(id, "k", {}, std::nullopt);
  (void)s.remove(id);
  (void)s.events_after(0, 1);
  (void)s.wait_for_events(0, std::chrono::milliseconds(0));
  (void)s.record_decision(StoreEvent{});
  (void)s.watch_changes([] {});
  (void)s.lease_store();
  (void)s.handoff_queue();
  CHECK(inner.calls == std::set<std::string>{"scan_modified_since", "scan_headers_since",
                                             "has_change_positions", "headers_changed_after", "get",
                                             "get_many", "find_by_crm_id", "find_by_crm_ids",
                                             "create", "create_many", "update", "remove",
                                             "events_after", "wait_for_events", "record_decision",
                                             "watch_changes", "lease_store", "handoff_queue"});
}

TEST_CASE("ports: CrmWrapper forwards every CrmAdapter method") {
  RecordingCrm inner;
  CrmWrapper w(inner);
  CrmAdapter& c = w;
  CrmId id = CrmId::generate();
  (void)c.who_am_i();
  (void)c.privileges(id);
  (void)c.changes_since(CrmEntity::kContact, "", 1, "");
  (void)c.supports_change_tracking(CrmEntity::kContact);
  (void)c.modified_since(CrmEntity::kContact, UtcTime{}, 1, "");
  (void)c.sweep_ids(CrmEntity::kContact, 1, "");
  (void)c.retrieve(CrmEntity::kContact, id);
  (void)c.find_by_name("account", "Contoso", 5);
  (void)c.create(CrmEntity::kContact, id, {});
  (void)c.update(CrmEntity::kContact, id, {}, "");
  (void)c.remove(CrmEntity::kContact, id);
  (void)c.set_state(CrmEntity::kContact, id, 0, -1);
  (void)c.find_contacts_by_emails({"a@b"});
  (void)c.find_parties_by_emails({"a@b"});
  (void)c.execute_batch({});
  CHECK(inner.calls ==
        std::set<std::string>{"who_am_i", "privileges", "changes_since", "supports_change_tracking",
                              "modified_since", "sweep_ids", "retrieve", "find_by_name", "create",
                              "update", "remove", "set_state", "find_contacts_by_emails",
                              "find_parties_by_emails", "execute_batch"});
}
