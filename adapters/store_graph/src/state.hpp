// The Graph adapter's own SQLite file: the mailbox it belongs to, folder ids, each collection's
// delta link (and where a round stands), the items it knows (change key, modification time,
// CRM link, whether the track category was on them) and the local change log (SPEC S1).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crmsync/core/change_log.hpp"
#include "crmsync/core/sqlite.hpp"
#include "crmsync/core/store_adapter.hpp"

namespace crmsync::graph {

struct Known {
  std::string entry_id;
  std::string collection;
  ItemKind kind = ItemKind::kContact;
  Folder folder = Folder::kContacts;
  std::string change_key;  // "" = to be looked at again by the next round
  UtcTime modified;
  bool tracked = false;
  std::optional<CrmId> crm_id;
  bool category = false;  // the track category was on it when last seen (U1)
};

// A collection's delta: the next link to follow and the kind of round it is in.
struct DeltaRow {
  enum class Mode { kBaseline, kIncremental, kReconcile };
  std::string collection;
  std::string link;
  Mode mode = Mode::kBaseline;
  std::int64_t round = 1;   // items seen by a baseline/reconcile round are marked with it
  std::int64_t window = 0;  // calendar: the window's start (ms) the link was made for
};

class State {
 public:
  // Opens (creates) the file. kCorrupt for a file of a newer version or of another mailbox
  // (`mailbox`: the service URL and user it was made for).
  static Result<State> open(const std::string& path, const std::string& mailbox);

  Result<std::optional<std::string>> meta(const std::string& key);
  Result<void> set_meta(const std::string& key, const std::string& value);

  Result<std::optional<Known>> known(const std::string& entry_id);
  Result<void> upsert(const Known& k, std::int64_t seen_round = 0);
  Result<void> forget(const std::string& entry_id);
  // Known items of a kind modified at or after `since`, newest first.
  Result<std::vector<Known>> modified_since(ItemKind kind, UtcTime since);
  Result<std::vector<std::string>> by_crm_id(const CrmId& id);
  // Items of a collection a baseline/reconcile round did not see.
  Result<std::vector<Known>> unseen(const std::string& collection, std::int64_t round);
  Result<void> mark_seen(const std::string& entry_id, std::int64_t round);

  Result<std::optional<DeltaRow>> delta(const std::string& collection);
  Result<void> save_delta(const DeltaRow& row);

  sql::ChangeLog log() { return sql::ChangeLog(db_, sql::ChangeLog::Layout::kFull, who_); }
  // Appends an event stamped `at` (seq and the stamp set by the log).
  Result<std::int64_t> append(StoreEvent e);
  sql::Database& db() { return db_; }

 private:
  State(sql::Database db, std::string who) : db_(std::move(db)), who_(std::move(who)) {}
  sql::Database db_;
  std::string who_;
};

}  // namespace crmsync::graph
