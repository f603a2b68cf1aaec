// The MAPI store's change log (SPEC S1; internal to store_mapi, Windows only): an advise sink
// on the whole store copies each notification on MAPI's notification thread; events_after, on
// the worker's thread, turns them into events (create, update; a delete or a move to Deleted
// Items is a delete). The adapter's own writes are logged at once and remembered by change
// key, so their notifications are not reported twice (SPEC C5). The log is in memory: what
// happens while the daemon is down is found by the S2 scan and S3 reconciliation. The user's
// intents (SPEC U1): an item that gained the track category while untracked is the explorer's
// track and gets the tracked mark, one tracked that lost it the explorer's untrack and its CRM
// link cleared (crmsync/core/category_store.hpp).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "crmsync/core/category_store.hpp"
#include "crmsync/model/clock.hpp"
#include "mailbox.hpp"

namespace crmsync::mapi {

class ChangeLog {
 public:
  // Sequence numbers start at the clock's milliseconds x 1000, above any an earlier run gave.
  // `mailbox` and `clock` must outlive the log.
  ChangeLog(Mailbox& mailbox, Clock& clock, std::size_t max_events, TrackCategory track);
  ChangeLog(const ChangeLog&) = delete;
  ChangeLog& operator=(const ChangeLog&) = delete;
  ~ChangeLog();

  // Registers the advise sink on the store (object created, modified, deleted, moved).
  Result<void> advise();

  // The adapter's own write: logged at once, its notifications dropped later.
  void log_own(ItemKind kind, const Binary& id, Action action, const std::string& change_key);
  // The user's decision (SPEC U2) as the explorer's event, after the adapter's write of
  // `change_key` ("" for none); its seq.
  std::int64_t log_decision(const StoreEvent& decision, const Binary& id,
                            const std::string& change_key);
  // Events with seq > `after`, oldest first, at most `max`, after turning the notifications
  // that arrived into events (on the caller's MAPI thread).
  Result<std::vector<StoreEvent>> after(std::int64_t after, std::size_t max);
  // Blocks up to `timeout` until a notification or an event after `after` is there.
  bool wait(std::int64_t after, std::chrono::milliseconds timeout);

  // One notification as the advise sink saw it, copied out of MAPI's memory.
  struct Note {
    ULONG event = 0;
    Binary entry_id, parent_id, old_parent_id;
  };

 private:
  Result<void> absorb_notes();
  // mutex_ held; the event's seq.
  std::int64_t append(ItemKind kind, const Binary& id, Action action,
                      Surface surface = Surface::kNone, bool delete_in_crm = false);

  Mailbox& mailbox_;
  Clock& clock_;
  std::size_t max_events_;
  TrackCategory track_;
  ULONG advise_connection_ = 0;

  std::mutex mutex_;  // guards what the notification thread touches
  std::condition_variable cv_;
  std::deque<Note> notes_;
  std::deque<StoreEvent> events_;
  std::map<std::string, std::string> own_;  // entry id hex -> change key we wrote ("-": deleted)
  std::int64_t next_seq_ = 0;
};

}  // namespace crmsync::mapi
