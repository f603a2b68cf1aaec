// Step 1, the store side: what secondaries handed over (P3), the store's events, and the S2
// modified-since scan, noted in the cache as change rows (C5 our own writes, T3 drafts, T5
// hand-offs, X1 new tracked items with their chosen ids).
#include <algorithm>

#include "crmsync/core/lease.hpp"
#include "cycle_context.hpp"

namespace crmsync::cycle {
namespace {

class PrepareStore {
 public:
  explicit PrepareStore(Cycle& c) : c(c) {}

  void run() {
    drain_handoff_queue();
    std::int64_t cursor =
        std::stoll(c.must(c.cache.get_meta(std::string(kCursorKey))).value_or("0"));
    for (;;) {
      auto events = c.must(c.store.events_after(cursor, c.settings.page_size));
      if (events.empty()) break;
      read_ahead_events(events);
      c.batch();
      for (const auto& ev : events) note_event(ev);
      read_ahead.clear();
      cursor = events.back().seq;
      c.must(c.cache.set_meta({{std::string(kCursorKey), std::to_string(cursor)}}));
      c.commit();
      c.crash("prepare.events");
    }
    if (c.only) return;
    scan();
  }

 private:
  Cycle& c;
  // The items a page of events names, read before the page is noted (an event's own step
  // then takes its item from here; a read is no earlier than the event list it follows).
  std::map<EntryId, Result<StoreItem>> read_ahead;

  // P3: the primary takes what secondaries handed over. Each entry is recorded in the
  // cache before it leaves the queue, so a crash in between applies it twice, and loses nothing.
  void drain_handoff_queue() {
    HandoffQueue* queue = c.store.handoff_queue();
    if (queue == nullptr || !c.primary_like() || c.only) return;
    for (;;) {
      auto entries = c.must(queue->peek(c.settings.page_size));
      if (entries.empty()) break;
      c.batch();
      for (const auto& q : entries) note_event(to_event(q));
      c.commit();
      for (const auto& q : entries) {
        c.crash("prepare.dequeue");
        c.must(queue->remove(q.id));
        ++c.report.dequeued;
      }
    }
  }

  // S2: the modified-since scan catches what no event told us.
  void scan() {
    std::int64_t wm =
        std::stoll(c.must(c.cache.get_meta(std::string(kWatermarkKey))).value_or("0"));
    const UtcTime since = scan_from(wm, c.settings.scan_margin);
    std::int64_t newest = wm;
    for (ItemKind kind : kAllItemKinds) {
      if (kind != ItemKind::kEmail && !c.primary_like()) continue;
      // Headers first: an item is read only when it is tracked and new to the cache, or
      // changed since the daemon last wrote or saw it (its change key moved).
      auto headers = c.must(c.store.scan_headers_since(kind, since));
      std::vector<EntryId> to_read;
      for (const auto& h : headers) {
        newest = std::max(newest, h.modified.ms);
        auto known_key = c.must(c.cache.store_change_key_of(h.entry_id));
        if (known_key ? h.change_key == *known_key : !h.tracked) continue;
        to_read.push_back(h.entry_id);
      }
      auto items = c.read_all(to_read);
      c.batch();
      for (std::size_t i = 0; i < to_read.size(); ++i) {
        const Result<StoreItem>& item = items[i];
        if (!item.ok()) {
          if (item.error().is(ErrorKind::kNotFound)) continue;  // gone since: S1/S3 see it
          throw Abort{item.error()};
        }
        note_item(*item, c.must(c.cache.mapping_by_entry_id(to_read[i])), Surface::kNone);
      }
      c.commit();
      c.step("prepare", 0, 0);
    }
    // With nothing new the watermark would stay at the newest item for good, and every scan
    // would list again everything modified in the margin before it (a burst of N items: N).
    // It also moves up to now minus the margin once it lags by ten margins: the scanned window
    // stays bounded, and a quiet cycle writes the watermark at most that often.
    const std::int64_t floor_now = c.clock.now().ms - c.settings.scan_margin.count();
    if (newest < floor_now - 9 * c.settings.scan_margin.count()) newest = floor_now;
    c.set_pending(std::string(kWatermarkKey), std::to_string(newest));
    c.crash("prepare.scan");
  }

  void read_ahead_events(const std::vector<StoreEvent>& events) {
    read_ahead.clear();
    std::vector<EntryId> ids;
    std::set<EntryId> seen;
    for (const auto& ev : events)
      if (ev.action != Action::kDelete && ev.action != Action::kUntrack &&
          seen.insert(ev.entry_id).second)
        ids.push_back(ev.entry_id);
    auto items = c.read_all(ids);
    for (std::size_t i = 0; i < ids.size(); ++i) read_ahead.emplace(ids[i], std::move(items[i]));
  }
  Result<StoreItem> read_item(const EntryId& id) {
    if (auto it = read_ahead.find(id); it != read_ahead.end()) return it->second;
    return c.store.get(id);
  }

  void note_event(const StoreEvent& ev) {
    if (ev.kind != ItemKind::kEmail && !c.primary_like()) {
      hand_to_primary(ev);  // T5; a delegate's non-e-mail items are not its business (P4)
      return;
    }
    auto m = c.must(c.cache.mapping_by_entry_id(ev.entry_id));
    ChangeNote note;
    note.store_timestamp = ev.at;
    note.surface = ev.surface;
    if (ev.action == Action::kDelete || ev.action == Action::kUntrack) {
      if (!m) return;
      note.store = ev.action == Action::kDelete ? StoreChange::kDelete
                   : ev.delete_in_crm           ? StoreChange::kUntrackDeleteInCrm
                                                : StoreChange::kUntrack;
      c.must(c.cache.note_change(m->map_id, note));
      return;
    }
    auto item = read_item(ev.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) throw Abort{item.error()};
      if (m) {
        note.store = StoreChange::kDelete;
        c.must(c.cache.note_change(m->map_id, note));
      }
      return;
    }
    note_item(*item, m, ev.surface);
  }

  void hand_to_primary(const StoreEvent& ev) {
    HandoffQueue* queue = c.store.handoff_queue();
    if (queue == nullptr) return;
    auto item = read_item(ev.entry_id);
    Folder folder = item.ok() ? item->folder : default_folder(ev.kind);
    if (immediate_sync(ev, classify(ev.kind, folder), c.role) != Timing::kHandToPrimary) return;
    c.must(queue->enqueue(to_queued(ev, c.settings.client_id)));
    ++c.report.queued;
  }

  void note_item(const StoreItem& item, const std::optional<Mapping>& m, Surface surface) {
    if (item.item.kind != ItemKind::kEmail && !c.primary_like()) return;
    ChangeNote note;
    note.store_timestamp = item.item.modified;
    note.surface = surface;
    if (!m) {
      if (!item.link.tracked) return;
      if (classify(item.item.kind, item.folder) == ItemClass::kDraftMail) return;  // T3
      // X1: a pending id stamped by an earlier attempt or another client is reused.
      CrmId id = item.link.crm_id ? *item.link.crm_id : CrmId::generate();
      if (auto other = c.must(c.cache.mapping_by_crm_id(id))) {
        // The pair exists already: a CRM create whose store copy this is (it is linked
        // when that change is applied), or a copy of a tracked item, which gets its own id.
        if (other->entry_id.empty() && !other->deleted_locally) return;
        id = CrmId::generate();
      }
      Mapping fresh;
      fresh.crm_id = id;
      fresh.entry_id = item.entry_id;
      fresh.entity = item.link.crm_entity.value_or(crm_entity_of(item.item.kind));
      fresh.manually_tracked = true;
      fresh.create_pending = true;
      note.store = StoreChange::kCreate;
      c.must(c.cache.insert_mapping(fresh, note));
      return;
    }
    auto pending = c.must(c.cache.pending_change_of(m->map_id));
    auto pending_store = pending ? pending->store_change : StoreChange::kNone;
    if (!item.link.tracked) {
      // An untrack seen by the scan: keep what the event said (delete in CRM or not).
      if (pending_store == StoreChange::kUntrack ||
          pending_store == StoreChange::kUntrackDeleteInCrm ||
          pending_store == StoreChange::kDelete)
        return;
      note.store = StoreChange::kUntrack;
      c.must(c.cache.note_change(m->map_id, note));
      return;
    }
    if (item.change_key == m->store_change_key) return;  // C5: our own write
    if (pending_store == StoreChange::kCreate) return;
    if (!m->linked) {
      note.store = StoreChange::kCreate;
      c.must(c.cache.note_change(m->map_id, note));
      return;
    }
    if (m->original && same_fields(syncable_fields(m->entity, item.item.fields, false),
                                   syncable_fields(m->entity, *m->original, false)))
      return;  // only unmapped fields changed (M4), or nothing
    note.store = StoreChange::kUpdate;
    c.must(c.cache.note_change(m->map_id, note));
  }
};

}  // namespace

void prepare_store(Cycle& c) {
  PrepareStore(c).run();
}

}  // namespace crmsync::cycle
