// A counting, fault-injecting StoreAdapter over the ports' forwarding crmsync::StoreWrapper
// (STYLE.md 2): it overrides only what it counts or breaks, so every other call — the batched
// ones included (create_many, scan_headers_since) — reaches the inner store as the engine made
// it. It counts the daemon's writes, can fail calls on demand, and can lose change events
// (S1 missed).
#pragma once

#include <deque>

#include "crmsync/core/wrappers.hpp"

namespace crmsync::fakes {

class StoreWrapper : public crmsync::StoreWrapper {
 public:
  explicit StoreWrapper(StoreAdapter& inner) : crmsync::StoreWrapper(inner) {}

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override;
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind kind, UtcTime since) override;
  Result<StoreItem> get(const EntryId& id) override;
  std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>& ids) override;
  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& id) override;
  std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>& ids) override;
  Result<StoreItem> create(const NewStoreItem& item) override;
  std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>& items) override;
  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override;
  Result<void> remove(const EntryId& id) override;
  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override;

  struct Counters {
    int creates = 0, updates = 0, deletes = 0;
    // Reads: calls of get / get_many and find_by_crm_id / find_by_crm_ids (the many-id calls
    // are what a store like EWS answers with one request).
    int gets = 0, get_manys = 0, finds = 0, find_manys = 0;
    // Scans: scan_modified_since and scan_headers_since calls; create_many calls (each of
    // their items counts in `creates` too).
    int scans = 0, header_scans = 0, create_manys = 0;
    int writes() const { return creates + updates + deletes; }
  };
  const Counters& counters() const { return counters_; }
  void reset_counters() { counters_ = {}; }
  // Notifications are lost (the daemon was down, another device): events_after sees none.
  void lose_events(bool on) { lose_events_ = on; }
  // The next write calls (create/update/remove, each item of a create_many) fail with `e`,
  // one each.
  void fail_next_writes(int calls, Error e);

 private:
  std::optional<Error> take_fault();
  Counters counters_;
  bool lose_events_ = false;
  std::deque<Error> faults_;
};

}  // namespace crmsync::fakes
