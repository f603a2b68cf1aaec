#include "change_log.hpp"

#include <atomic>
#include <functional>

#include "errors.hpp"

namespace crmsync::mapi {
namespace {

using Note = ChangeLog::Note;

class Sink final : public IMAPIAdviseSink {
 public:
  explicit Sink(std::function<void(std::vector<Note>)> deliver) : deliver_(std::move(deliver)) {}
  STDMETHODIMP QueryInterface(REFIID riid, void** out) override {
    if (riid == IID_IUnknown) {
      *out = static_cast<IUnknown*>(this);
      AddRef();
      return S_OK;
    }
    *out = nullptr;
    return E_NOINTERFACE;
  }
  STDMETHODIMP_(ULONG) AddRef() override { return ++refs_; }
  STDMETHODIMP_(ULONG) Release() override {
    ULONG r = --refs_;
    if (r == 0) delete this;
    return r;
  }
  // On MAPI's notification thread (MAPI_MULTITHREAD_NOTIFICATIONS): copy and hand over only.
  STDMETHODIMP_(ULONG) OnNotify(ULONG count, LPNOTIFICATION n) override {
    std::vector<Note> notes;
    for (ULONG i = 0; i < count; ++i) {
      const OBJECT_NOTIFICATION& o = n[i].info.obj;
      if (o.ulObjType != MAPI_MESSAGE) continue;
      Note note;
      note.event = n[i].ulEventType;
      if (o.lpEntryID)
        note.entry_id.assign(reinterpret_cast<BYTE*>(o.lpEntryID),
                             reinterpret_cast<BYTE*>(o.lpEntryID) + o.cbEntryID);
      if (o.lpParentID)
        note.parent_id.assign(reinterpret_cast<BYTE*>(o.lpParentID),
                              reinterpret_cast<BYTE*>(o.lpParentID) + o.cbParentID);
      if (o.lpOldParentID)
        note.old_parent_id.assign(reinterpret_cast<BYTE*>(o.lpOldParentID),
                                  reinterpret_cast<BYTE*>(o.lpOldParentID) + o.cbOldParentID);
      notes.push_back(std::move(note));
    }
    if (!notes.empty()) deliver_(std::move(notes));
    return 0;
  }

 private:
  std::atomic<ULONG> refs_{1};
  std::function<void(std::vector<Note>)> deliver_;
};

}  // namespace

ChangeLog::ChangeLog(Mailbox& mailbox, Clock& clock, std::size_t max_events, TrackCategory track)
    : mailbox_(mailbox), clock_(clock), max_events_(max_events), track_(std::move(track)) {
  next_seq_ = clock_.now().ms * 1000;  // above any seq an earlier run of this client gave
}

ChangeLog::~ChangeLog() {
  if (mailbox_.store() && advise_connection_) mailbox_.store()->Unadvise(advise_connection_);
}

Result<void> ChangeLog::advise() {
  auto* sink = new Sink([this](std::vector<Note> notes) {
    std::lock_guard lock(mutex_);
    for (auto& n : notes) notes_.push_back(std::move(n));
    cv_.notify_all();
  });
  HRESULT h = mailbox_.store()->Advise(
      0, nullptr, fnevObjectCreated | fnevObjectModified | fnevObjectDeleted | fnevObjectMoved,
      sink, &advise_connection_);
  sink->Release();  // the store holds it while advised
  if (FAILED(h)) return error_of(h, "IMsgStore::Advise");
  return Ok();
}

Result<std::vector<StoreEvent>> ChangeLog::after(std::int64_t after, std::size_t max) {
  CRMSYNC_TRY(absorb_notes());
  std::lock_guard lock(mutex_);
  std::vector<StoreEvent> out;
  for (const StoreEvent& e : events_)
    if (e.seq > after && out.size() < max) out.push_back(e);
  return out;
}

bool ChangeLog::wait(std::int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] {
    return !notes_.empty() || (!events_.empty() && events_.back().seq > after);
  });
}

// The adapter's own writes are logged at once (SPEC C5 recognises them by change key); the
// notifications they cause later are dropped by entry id and change key.
void ChangeLog::log_own(ItemKind kind, const Binary& id, Action action,
                        const std::string& change_key) {
  std::lock_guard lock(mutex_);
  append(kind, id, action);
  own_[to_hex(id)] = action == Action::kDelete ? std::string("-") : change_key;
}

std::int64_t ChangeLog::log_decision(const StoreEvent& decision, const Binary& id,
                                     const std::string& change_key) {
  std::lock_guard lock(mutex_);
  const std::int64_t seq =
      append(decision.kind, id, decision.action, Surface::kExplorer, decision.delete_in_crm);
  if (!change_key.empty()) own_[to_hex(id)] = change_key;
  return seq;
}

std::int64_t ChangeLog::append(ItemKind kind, const Binary& id, Action action, Surface surface,
                               bool delete_in_crm) {
  StoreEvent e;
  e.seq = ++next_seq_;
  e.kind = kind;
  e.entry_id = EntryId(entry_id_text(id));
  e.action = action;
  e.surface = surface;
  e.delete_in_crm = delete_in_crm;
  e.at = clock_.now();
  events_.push_back(std::move(e));
  while (events_.size() > max_events_) events_.pop_front();
  cv_.notify_all();
  return next_seq_;
}

// Turns the advise sink's notifications into events, on the caller's (MAPI) thread.
Result<void> ChangeLog::absorb_notes() {
  std::deque<Note> notes;
  {
    std::lock_guard lock(mutex_);
    notes.swap(notes_);
  }
  for (const Note& n : notes) {
    const std::string hex = to_hex(n.entry_id);
    auto own = [&]() -> std::string {
      std::lock_guard lock(mutex_);
      auto it = own_.find(hex);
      return it == own_.end() ? std::string() : it->second;
    };
    const bool to_waste =
        n.event == fnevObjectMoved && mailbox_.same_entry(n.parent_id, mailbox_.wastebasket_id());
    if (n.event == fnevObjectDeleted || to_waste) {
      const Binary& from = n.event == fnevObjectMoved ? n.old_parent_id : n.parent_id;
      auto folder = mailbox_.folder_of(from);
      if (!folder || own() == "-") continue;
      std::lock_guard lock(mutex_);
      append(kind_of_folder(*folder), n.entry_id, Action::kDelete);
      continue;
    }
    CategoryMark mark;
    auto item = mailbox_.read(n.entry_id, &mark);
    if (!item) {
      if (item.error().is(ErrorKind::kNotFound) || item.error().is(ErrorKind::kInvalid)) continue;
      return item.error();
    }
    if (own() == item->change_key) continue;  // our own write, logged already
    if (auto intent = category_intent(track_, mark)) {
      // The user's track or untrack from any client (U1), the explorer's; the mark follows.
      // A write that fails (the user saved again) is left to that save's notification.
      {
        std::lock_guard lock(mutex_);
        append(item->item.kind, n.entry_id, *intent, Surface::kExplorer);
      }
      const bool tracked = *intent == Action::kTrack;
      auto ck = mailbox_.write_mark(n.entry_id, item->change_key, tracked,
                                    keep_in_step(track_, mark, tracked));
      if (ck) {
        std::lock_guard lock(mutex_);
        own_[hex] = *ck;
      }
      continue;
    }
    const bool created = n.event == fnevObjectCreated ||
                         (n.event == fnevObjectMoved && !mailbox_.folder_of(n.old_parent_id));
    std::lock_guard lock(mutex_);
    append(item->item.kind, n.entry_id, created ? Action::kCreate : Action::kUpdate);
  }
  return Ok();
}

}  // namespace crmsync::mapi
