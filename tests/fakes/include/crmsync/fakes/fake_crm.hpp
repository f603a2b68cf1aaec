// An in-memory Dynamics CRM for engine tests: change tokens, owners, state codes,
// privileges, other users' edits, and faults on demand.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync::fakes {

class FakeCrm final : public CrmAdapter {
 public:
  explicit FakeCrm(Clock& clock);

  // --- CrmAdapter ---
  Result<CrmIdentity> who_am_i() override;
  Result<CrmPrivileges> privileges(const CrmId& user) override;
  Result<CrmChangePage> changes_since(CrmEntity entity, const std::string& data_version,
                                      int page_number, const std::string& paging_cookie) override;
  bool supports_change_tracking(CrmEntity entity) override { return !no_tracking_.count(entity); }
  Result<CrmRecordPage> modified_since(CrmEntity entity, UtcTime since, int page_number,
                                       const std::string& paging_cookie) override;
  Result<CrmRecordPage> sweep_ids(CrmEntity entity, int page_number,
                                  const std::string& paging_cookie) override;
  Result<CrmRecord> retrieve(CrmEntity entity, const CrmId& id) override;
  // U4: the filters set with set_filter; `filtered` pages through the records a filter's
  // predicate selects (the FetchXML text is the filter's name here: the real evaluation is
  // crm-emulator's, tested there), modified since when asked.
  Result<std::vector<SyncFilter>> sync_filters() override;
  Result<CrmRecordPage> filtered(const SyncFilter& filter, std::optional<UtcTime> modified_since,
                                 bool ids_only, int page_number,
                                 const std::string& paging_cookie) override;
  Result<void> create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) override;
  // With a row version, only while the record is still at it (kConflict otherwise: U6).
  Result<void> update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                      const std::string& row_version) override;
  Result<void> remove(CrmEntity entity, const CrmId& id) override;
  Result<void> set_state(CrmEntity entity, const CrmId& id, int state, int status) override;
  Result<std::vector<CrmRecord>> find_contacts_by_emails(
      const std::vector<std::string>& addresses) override;
  Result<std::vector<EmailParty>> find_parties_by_emails(
      const std::vector<std::string>& addresses) override;
  Result<std::vector<Result<void>>> execute_batch(const std::vector<CrmOperation>& ops) override;

  // --- the world outside the daemon ---
  const CrmId& me() const { return me_; }
  CrmId other_user() const { return other_; }
  void set_sync_privilege(bool on) { sync_privilege_ = on; }
  // U4: one of the user's Outlook filters, as a predicate over records.
  void set_filter(CrmEntity entity, std::string name,
                  std::function<bool(const CrmRecord&)> selects) {
    filters_.push_back({entity, std::move(name), std::move(selects)});
  }
  void set_page_size(std::size_t n) { page_size_ = n; }
  // Change history older than now is dropped: older tokens are refused (kConflict).
  void expire_tokens() { oldest_token_ = seq_; }
  // An older CRM, or change tracking switched off for the entity (R3).
  void set_change_tracking(CrmEntity entity, bool on) {
    if (on)
      no_tracking_.erase(entity);
    else
      no_tracking_.insert(entity);
  }
  // A record created or edited by someone in CRM (not counted as the daemon's writes).
  CrmId seed(CrmEntity entity, FieldMap attributes, std::optional<CrmId> owner = std::nullopt);
  void edit(const CrmId& id, const FieldMap& attributes);
  // Someone edits the record in CRM when the daemon next updates it: after the daemon read
  // the record, before its write lands (U6). Each call arms one such edit, for one update.
  void edit_before_next_update(const CrmId& id, FieldMap attributes) {
    update_hooks_[id].push_back(std::move(attributes));
  }
  void reassign(const CrmId& id, const CrmId& owner);
  // The record's last write is stamped `modified` (no new version): a transaction that
  // committed after later-stamped ones, or a server that stepped a stamp ahead (U4).
  void stamp(const CrmId& id, UtcTime modified);
  // A system user's internalemailaddress (me() and other_user() have none until set).
  void set_user_email(const CrmId& user, std::string address) {
    user_emails_[user] = std::move(address);
  }
  void erase(const CrmId& id);
  std::optional<CrmRecord> find(const CrmId& id) const;
  std::vector<CrmRecord> all(CrmEntity entity) const;
  // A CRM before 2015 Update 1: records come without a row version (U6). Set before seeding.
  void set_row_versions(bool on) { row_versions_ = on; }
  // Attributes longer than this are refused like CRM's max-length fault (kInvalid).
  void set_max_length(std::string attribute, std::size_t n) { max_length_[attribute] = n; }

  // --- faults ---
  // The next calls fail with `e`, one each (E3 transient, kPermission ...).
  void fail_next(int calls, Error e);
  // The next writes (create, update, delete, set state) fail with `e`, one each.
  void fail_next_writes(int calls, Error e);
  // The network is back: no fault is pending any more.
  void clear_faults() {
    faults_.clear();
    write_faults_.clear();
    drop_create_reply_ = false;
  }
  // The next create commits, then its reply is lost (the client sees kTransient).
  void drop_next_create_reply() { drop_create_reply_ = true; }

  // --- what the daemon did ---
  struct Counters {
    int creates = 0, updates = 0, deletes = 0, set_states = 0, retrieves = 0, change_requests = 0,
        queries = 0, party_lookups = 0, filtered_queries = 0;
    int writes() const { return creates + updates + deletes + set_states; }
  };
  const Counters& counters() const { return counters_; }
  void reset_counters() { counters_ = {}; }

 private:
  struct Stored {
    CrmRecord record;
    std::int64_t version = 0;
  };
  struct Tombstone {
    CrmEntity entity;
    CrmId id;
    std::int64_t version;
  };
  std::optional<Error> take_fault();
  void touch(Stored& s);
  Result<void> check_lengths(const FieldMap& attributes) const;

  Clock& clock_;
  CrmId me_;
  CrmId other_;
  bool sync_privilege_ = true;
  std::size_t page_size_ = 3;
  std::int64_t seq_ = 0;
  std::int64_t oldest_token_ = 0;
  std::map<CrmId, Stored> records_;
  std::vector<Tombstone> tombstones_;
  std::deque<Error> faults_;
  std::deque<Error> write_faults_;
  std::optional<Error> take_write_fault();
  bool drop_create_reply_ = false;
  std::map<std::string, std::size_t, std::less<>> max_length_;
  Counters counters_;
  std::set<CrmEntity> no_tracking_;
  std::map<CrmId, std::deque<FieldMap>> update_hooks_;
  bool row_versions_ = true;
  std::map<CrmId, std::string> user_emails_;
  Result<CrmRecordPage> page_of(std::vector<CrmRecord> all, int page_number);
  struct Filter {
    CrmEntity entity;
    std::string name;
    std::function<bool(const CrmRecord&)> selects;
  };
  std::vector<Filter> filters_;
};

}  // namespace crmsync::fakes
