// A forwarding StoreAdapter (STYLE.md 2): tests override only what they need. It counts
// the daemon's writes, can fail calls on demand, and can lose change events (S1 missed).
#pragma once

#include <deque>

#include "crmsync/core/store_adapter.hpp"

namespace crmsync::fakes {

class StoreWrapper : public StoreAdapter {
 public:
  explicit StoreWrapper(StoreAdapter& inner) : inner_(inner) {}

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override;
  Result<StoreItem> get(const EntryId& id) override;
  std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>& ids) override;
  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& id) override;
  std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>& ids) override;
  Result<StoreItem> create(const NewStoreItem& item) override;
  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override;
  Result<void> remove(const EntryId& id) override;
  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override;
  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override;
  LeaseStore* lease_store() override { return inner_.lease_store(); }
  HandoffQueue* handoff_queue() override { return inner_.handoff_queue(); }

  struct Counters {
    int creates = 0, updates = 0, deletes = 0;
    // Reads: calls of get / get_many and find_by_crm_id / find_by_crm_ids (the many-id calls
    // are what a store like EWS answers with one request).
    int gets = 0, get_manys = 0, finds = 0, find_manys = 0;
    int writes() const { return creates + updates + deletes; }
  };
  const Counters& counters() const { return counters_; }
  void reset_counters() { counters_ = {}; }
  // Notifications are lost (the daemon was down, another device): events_after sees none.
  void lose_events(bool on) { lose_events_ = on; }
  // The next write calls (create/update/remove) fail with `e`, one each.
  void fail_next_writes(int calls, Error e);

 private:
  std::optional<Error> take_fault();
  StoreAdapter& inner_;
  Counters counters_;
  bool lose_events_ = false;
  std::deque<Error> faults_;
};

}  // namespace crmsync::fakes
