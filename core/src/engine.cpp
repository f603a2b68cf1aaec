#include "crmsync/core/engine.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "crmsync/core/deletion_rules.hpp"
#include "crmsync/core/lease.hpp"
#include "crmsync/core/merge.hpp"
#include "crmsync/core/retry_rules.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync {
namespace {

constexpr std::string_view kUserKey = "crm.user_id";
constexpr std::string_view kCursorKey = "store.event_cursor";
constexpr std::string_view kWatermarkKey = "store.watermark";
constexpr std::string_view kWatermarkPendingKey = "store.watermark.pending";
// D10: deletions made on each side since the user last confirmed (--allow-mass-delete).
constexpr std::string_view kDeletedInStoreKey = "d10.deleted_in_store";
constexpr std::string_view kDeletedInCrmKey = "d10.deleted_in_crm";
std::string token_key(CrmEntity e) {
  return "crm.token." + std::string(to_string(e));
}
std::string modified_key(CrmEntity e) {
  return "crm.modified." + std::string(to_string(e));
}
std::string sweep_key(CrmEntity e) {
  return "crm.sweep." + std::string(to_string(e));
}
// Values that take effect only at the post step (SPEC R1: tokens advance once applied).
std::string pending(const std::string& key) {
  return key + ".pending";
}

bool same_fields(const FieldMap& a, const FieldMap& b) {
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (!equivalent(v, it == b.end() ? Value{} : it->second)) return false;
  }
  for (const auto& [k, v] : b)
    if (a.find(k) == a.end() && !is_null(v)) return false;
  return true;
}

std::optional<std::int64_t> int_attr(const FieldMap& m, std::string_view name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::int64_t>(&it->second)) return *v;
  return std::nullopt;
}

std::optional<UtcTime> time_attr(const FieldMap& m, std::string_view name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  if (const auto* v = std::get_if<UtcTime>(&it->second)) return *v;
  return std::nullopt;
}

bool party_has(const FieldMap& attrs, std::string_view name, const CrmId& user) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return false;
  if (const auto* parties = std::get_if<PartyList>(&it->second))
    for (const auto& p : *parties)
      if (p.ref && p.ref->id == user) return true;
  return false;
}

// U7: a tracked e-mail is a completed activity: Sent from the sent items (outgoing), Received
// otherwise; never a draft (statuscode 1) or Pending Send (6), which CRM would send.
constexpr std::int64_t kEmailCompleted = 1;
constexpr std::int64_t kEmailSent = 3;
constexpr std::int64_t kEmailReceived = 4;
std::int64_t tracked_email_status(Folder folder) {
  return folder == Folder::kSentItems ? kEmailSent : kEmailReceived;
}

// Thrown inside a cycle to stop it; caught only by run_cycle.
struct CycleAbort {
  Error error;
};

}  // namespace

std::string_view to_string(CycleResult r) {
  switch (r) {
    case CycleResult::kOk:
      return "ok";
    case CycleResult::kItemErrors:
      return "item-errors";
    case CycleResult::kMassDeleteHeld:
      return "mass-delete-held";
    case CycleResult::kFailed:
      return "failed";
  }
  return "?";
}

struct Engine::Impl {
  Cache& cache;
  StoreAdapter& store;
  CrmAdapter& crm;
  Clock& clock;
  EngineSettings settings;
  CrashPoints* crash_points;
  std::function<void(const Progress&)> progress;
  FixedOffsetZone utc{std::chrono::minutes(0)};

  // Per cycle.
  CycleReport report;
  CrmId me;
  bool sync_privilege = true;
  bool allow_mass_delete = false;
  std::optional<std::set<EntryId>> only;
  Role role = Role::kPrimary;
  std::function<bool()> may_act;
  bool hold_store_deletions = false;
  bool hold_crm_deletions = false;
  // D10: deletions made since the last confirmation, read from and kept in the cache.
  std::int64_t deleted_in_store = 0;
  std::int64_t deleted_in_crm = 0;

  Impl(Cache& c, StoreAdapter& s, CrmAdapter& r, Clock& k, EngineSettings st, CrashPoints* cp)
      : cache(c), store(s), crm(r), clock(k), settings(std::move(st)), crash_points(cp) {}

  // ---- helpers ------------------------------------------------------------

  MapContext ctx() const {
    return MapContext{settings.zone ? settings.zone : &utc, settings.update_company_field};
  }
  void crash(std::string_view point) {
    if (crash_points != nullptr) crash_points->hit(point);
  }
  template <class T>
  T must(Result<T> r) {
    if (!r.ok()) throw CycleAbort{r.error()};
    return std::move(r.value());
  }
  void must(Result<void> r) {
    if (!r.ok()) throw CycleAbort{r.error()};
  }
  // Groups cache writes (Cache::begin_batch): one commit per page instead of one per item.
  void batch() {
    if (!cache.in_batch()) must(cache.begin_batch());
  }
  void commit() { must(cache.commit_batch()); }
  // What was written so far must survive a crash before the next external write (M3).
  Result<void> make_durable() {
    if (!cache.in_batch()) return Ok();
    CRMSYNC_TRY(cache.commit_batch());
    return cache.begin_batch();
  }
  // Records `value` for `key` to take effect at the post step (R1), unless it would change
  // nothing: a cycle that finds nothing new writes nothing (issue #8's no-op sync).
  void set_pending(const std::string& key, const std::string& value) {
    if (!must(cache.get_meta(pending(key))) && must(cache.get_meta(key)) == value) return;
    must(cache.set_meta({{pending(key), value}}));
  }
  void step(std::string_view name, std::int64_t done, std::int64_t total) {
    if (progress) progress(Progress{std::string(name), done, total});
  }
  bool primary_like() const { return role == Role::kPrimary || role == Role::kRoaming; }
  void count(CrmEntity e, std::string_view direction) {
    ++report.synced[std::string(to_string(e)) + ":" + std::string(direction)];
  }

  // An item failed: keep its change with the reason and a backoff (E1); a failure of the
  // whole service ends the cycle instead (E3).
  void item_failed(const PendingChange& row, const Error& e) {
    record_item_failure(row, e);
    if (rules::ends_cycle(e)) throw CycleAbort{e};
  }
  void record_item_failure(const PendingChange& row, const Error& e) {
    must(cache.record_failure(row.change_id, e.describe(),
                              UtcTime{clock.now().ms + rules::item_backoff(row.attempts).count()}));
    ++report.item_errors;
  }

  // R2: contacts owned by the user; activities owned by the user or with the user as a party.
  bool in_filter(const CrmRecord& rec) const {
    if (!rec.owner) return true;
    if (*rec.owner == me) return true;
    if (rec.entity == CrmEntity::kContact) return false;
    for (const auto& [name, value] : rec.attributes)
      if (std::holds_alternative<PartyList>(value) && party_has(rec.attributes, name, me))
        return true;
    return false;
  }

  // G1, G5: CRM -> store for this entity (e-mail: G1 only; tracking is not a CRM -> store
  // sync, and G5 leaves e-mail alone).
  bool crm_to_store_on(CrmEntity entity) const {
    if (!settings.entity_enabled(entity)) return false;
    return entity == CrmEntity::kEmail || sync_privilege;
  }

  // ---- 1. prepare ---------------------------------------------------------

  void prepare_crm() {
    if (only || !primary_like()) return;  // P3: only the primary writes CRM -> store
    // U4: the user's Outlook filters, read once a cycle (one request).
    const std::vector<SyncFilter> filters =
        settings.user_filters ? must(crm.sync_filters()) : std::vector<SyncFilter>{};
    for (CrmEntity entity : kAllCrmEntities) {
      if (!crm_to_store_on(entity)) continue;
      std::vector<SyncFilter> mine;
      for (const auto& f : filters)
        if (f.entity == entity) mine.push_back(f);
      if (!mine.empty()) {
        prepare_crm_filtered(entity, mine);
        continue;
      }
      if (!crm.supports_change_tracking(entity)) {
        prepare_crm_without_tracking(entity);
        continue;
      }
      std::string token = must(cache.get_meta(token_key(entity))).value_or("");
      int page = 1;
      std::string cookie;
      std::set<CrmId> listed;  // a full fetch's records
      for (;;) {
        auto fetched = crm.changes_since(entity, token, page, cookie);
        if (!fetched.ok() && fetched.error().is(ErrorKind::kConflict) && !token.empty()) {
          // The token expired (CRM keeps change history for a limited time): start over
          // with a full fetch. Unchanged records match their original state: no writes.
          token.clear();
          page = 1;
          cookie.clear();
          continue;
        }
        CrmChangePage p = must(std::move(fetched));
        batch();
        for (const auto& rec : p.new_or_updated) {
          if (token.empty()) listed.insert(rec.id);
          note_crm_upsert(rec);
        }
        for (const auto& id : p.removed) note_crm_removed(id);
        if (!p.more) {
          if (token.empty()) note_unlisted(entity, listed);
          set_pending(token_key(entity), p.data_version);
        }
        commit();
        step("prepare", page, 0);
        if (!p.more) break;
        ++page;
        cookie = p.paging_cookie;
      }
      crash("prepare.crm");
    }
  }

  // U4: the user's filters pick the records (R2 as the user set it up). The first sync fetches
  // what they select, not the organization; later ones what changed since (modifiedon, with
  // the S2-like margin) and the ids the filters select (a request per page of the user's
  // records, whatever the organization's size): a mapped record they no longer select is
  // looked up - gone (deleted in CRM, D6-D9 at the next sync) or still there (it left the
  // filters; records the user tracked by hand stay).
  void prepare_crm_filtered(CrmEntity entity, const std::vector<SyncFilter>& filters) {
    // The watermark "ms:id@version,...": a floor on modifiedon and the records seen at or
    // after it in their row versions. The floor trails the newest modifiedon seen by a margin,
    // because a stamp is no promise of order: a transaction commits after a later one
    // stamped earlier, and a server may step a stamp ahead to keep it moving. The records in
    // that margin come back on every fetch and are skipped when their version is the one
    // seen (versionnumber, read as a column); a CRM that gives no version gets them noted
    // again, which merges to no write.
    const std::string mark = must(cache.get_meta(modified_key(entity))).value_or("0");
    const std::int64_t wm = std::stoll(mark);
    std::set<std::string> seen_before;
    if (auto colon = mark.find(':'); colon != std::string::npos)
      for (std::size_t at = colon + 1; at < mark.size();) {
        auto comma = mark.find(',', at);
        seen_before.insert(mark.substr(at, comma == std::string::npos ? comma : comma - at));
        at = comma == std::string::npos ? mark.size() : comma + 1;
      }
    std::optional<UtcTime> since;
    if (wm != 0) since = UtcTime{wm};
    const std::int64_t margin = settings.crm_watermark_margin.count();
    std::int64_t newest = wm == 0 ? 0 : wm + margin;
    std::map<std::string, std::int64_t> recent;  // id@version -> modifiedon, for the next mark
    std::set<CrmId> listed;  // what the filters select now
    auto each = [&](const SyncFilter& filter, bool ids_only, const auto& on_record) {
      std::string cookie;
      for (int page = 1;; ++page) {
        CrmRecordPage p =
            must(crm.filtered(filter, ids_only ? std::nullopt : since, ids_only, page, cookie));
        batch();
        for (const auto& rec : p.records) on_record(rec);
        commit();
        step("prepare", page, 0);
        if (!p.more) break;
        cookie = p.paging_cookie;
      }
    };
    for (const auto& filter : filters) {
      each(filter, false, [&](const CrmRecord& rec) {
        newest = std::max(newest, rec.modified_on.ms);
        const std::string version = rec.id.str() + "@" + rec.row_version;
        const bool versioned = !rec.row_version.empty();
        if (versioned) recent[version] = rec.modified_on.ms;
        const bool seen = versioned && seen_before.count(version);
        if (listed.insert(rec.id).second && !seen) note_crm_upsert(rec, /*in_filter=*/true);
      });
      if (since)  // the first sync listed everything already
        each(filter, true, [&](const CrmRecord& rec) { listed.insert(rec.id); });
    }
    const std::int64_t floor = newest == 0 ? 0 : std::max<std::int64_t>(newest - margin, 1);
    std::string next = std::to_string(floor) + ":";
    for (const auto& [version, modified] : recent)
      if (modified >= floor) next += (next.back() == ':' ? "" : ",") + version;
    set_pending(modified_key(entity), next);
    batch();
    for (const auto& m : must(cache.mappings(entity))) {
      if (m.create_pending || (!m.linked && !m.deleted_locally) || listed.count(m.crm_id)) continue;
      auto rec = crm.retrieve(entity, m.crm_id);
      if (!rec.ok() && rec.error().is(ErrorKind::kNotFound)) {
        note_crm_removed(m.crm_id);
        continue;
      }
      if (!rec.ok()) throw CycleAbort{rec.error()};
      note_crm_upsert(*rec, /*in_filter=*/false);  // still in CRM: it left the filters
    }
    commit();
    crash("prepare.sweep");
  }

  // R3: without change tracking, modifiedon finds creates and updates, and a periodic sweep
  // of the ids finds deletions and records that left the filter.
  void prepare_crm_without_tracking(CrmEntity entity) {
    const std::int64_t wm = std::stoll(must(cache.get_meta(modified_key(entity))).value_or("0"));
    UtcTime since{wm == 0 ? std::numeric_limits<std::int64_t>::min() / 2
                          : wm - settings.scan_margin.count()};
    std::int64_t newest = wm;
    std::string cookie;
    for (int page = 1;; ++page) {
      CrmRecordPage p = must(crm.modified_since(entity, since, page, cookie));
      batch();
      for (const auto& rec : p.records) {
        newest = std::max(newest, rec.modified_on.ms);
        note_crm_upsert(rec);
      }
      commit();
      step("prepare", page, 0);
      if (!p.more) break;
      cookie = p.paging_cookie;
    }
    set_pending(modified_key(entity), std::to_string(newest));
    const std::int64_t last_sweep =
        std::stoll(must(cache.get_meta(sweep_key(entity))).value_or("0"));
    // The first cycle sweeps; later ones once per interval (not every cycle: a no-op writes
    // nothing).
    if (last_sweep != 0 && clock.now().ms - last_sweep < settings.crm_sweep_interval.count())
      return;
    std::set<CrmId> present;
    cookie.clear();
    for (int page = 1;; ++page) {
      CrmRecordPage p = must(crm.sweep_ids(entity, page, cookie));
      batch();
      for (const auto& rec : p.records) {
        present.insert(rec.id);
        if (in_filter(rec)) continue;
        auto m = must(cache.mapping_by_crm_id(rec.id));
        if (!m || m->manually_tracked) continue;
        ChangeNote note;
        note.crm = CrmChange::kLeftFilter;
        note.crm_timestamp = clock.now();
        if (m->deleted_locally)
          must(cache.forget_mapping(m->map_id));
        else if (m->linked)
          must(cache.note_change(m->map_id, note));
      }
      commit();
      if (!p.more) break;
      cookie = p.paging_cookie;
    }
    batch();
    for (const auto& m : must(cache.mappings(entity))) {
      if ((!m.linked && !m.deleted_locally) || present.count(m.crm_id)) continue;
      note_crm_removed(m.crm_id);
    }
    must(cache.set_meta({{pending(sweep_key(entity)), std::to_string(clock.now().ms)}}));
    commit();
    crash("prepare.sweep");
  }

  // `in_filter`: what the user's own filters said (U4); R2's fixed test when not given.
  void note_crm_upsert(const CrmRecord& rec, std::optional<bool> in_filter_of_user = {}) {
    auto m = must(cache.mapping_by_crm_id(rec.id));
    const bool in = in_filter_of_user.value_or(in_filter(rec));
    ChangeNote note;
    note.crm = CrmChange::kUpsert;
    note.crm_timestamp = rec.modified_on;
    note.crm_record = rec;
    if (!m) {
      if (!in || rec.entity == CrmEntity::kEmail) return;  // e-mails come from the store only
      Mapping fresh;
      fresh.crm_id = rec.id;
      fresh.entity = rec.entity;
      fresh.owner = rec.owner;
      fresh.crm_state = int_attr(rec.attributes, "statecode");
      must(cache.insert_mapping(fresh, note));
      return;
    }
    if (m->deleted_locally) {
      // D1: not brought back; leaving the filter forgets it, so re-entering brings it back.
      if (!in) must(cache.forget_mapping(m->map_id));
      return;
    }
    if (!in && !m->manually_tracked) {
      note.crm = CrmChange::kLeftFilter;
      note.crm_record.reset();
      must(cache.note_change(m->map_id, note));
      return;
    }
    // C5: our own writes come back as changes; only a different mapped value is news.
    if (m->linked && m->original) {
      auto conv = crm_to_store(rec.entity, rec.attributes, ctx());
      if (conv.ok() && same_fields(syncable_fields(rec.entity, *conv, true),
                                   syncable_fields(rec.entity, *m->original, true))) {
        auto state = int_attr(rec.attributes, "statecode");
        if (m->owner != rec.owner || (state && m->crm_state != state)) {
          m->owner = rec.owner;
          if (state) m->crm_state = state;
          must(cache.save_mapping(*m));
        }
        return;
      }
    }
    must(cache.note_change(m->map_id, note));
  }

  // A full fetch lists what exists and names no deletion: a record mapped from CRM that it
  // does not list is gone. This happens after a crash before the first token was committed
  // (the mappings of that cycle stay) and after an expired token. Store items whose create
  // has not reached CRM yet (X1) are not CRM's to report.
  void note_unlisted(CrmEntity entity, const std::set<CrmId>& listed) {
    for (const auto& m : must(cache.mappings(entity)))
      if (!m.create_pending && !listed.count(m.crm_id)) note_crm_removed(m.crm_id);
  }

  void note_crm_removed(const CrmId& id) {
    auto m = must(cache.mapping_by_crm_id(id));
    if (!m) return;
    ChangeNote note;
    note.crm = CrmChange::kDelete;
    note.crm_timestamp = clock.now();
    must(cache.note_change(m->map_id, note));
  }

  // P3: the primary takes what secondaries handed over. Each entry is recorded in the
  // cache before it leaves the queue, so a crash in between applies it twice, and loses nothing.
  void drain_handoff_queue() {
    HandoffQueue* queue = store.handoff_queue();
    if (queue == nullptr || !primary_like() || only) return;
    for (;;) {
      auto entries = must(queue->peek(settings.page_size));
      if (entries.empty()) break;
      batch();
      for (const auto& q : entries) note_store_event(to_event(q));
      commit();
      for (const auto& q : entries) {
        crash("prepare.dequeue");
        must(queue->remove(q.id));
        ++report.dequeued;
      }
    }
  }

  void prepare_store() {
    drain_handoff_queue();
    std::int64_t cursor = std::stoll(must(cache.get_meta(std::string(kCursorKey))).value_or("0"));
    for (;;) {
      auto events = must(store.events_after(cursor, settings.page_size));
      if (events.empty()) break;
      read_ahead_events(events);
      batch();
      for (const auto& ev : events) note_store_event(ev);
      read_ahead.clear();
      cursor = events.back().seq;
      must(cache.set_meta({{std::string(kCursorKey), std::to_string(cursor)}}));
      commit();
      crash("prepare.events");
    }
    if (only) return;
    // S2: the modified-since scan catches what no event told us.
    std::int64_t wm = std::stoll(must(cache.get_meta(std::string(kWatermarkKey))).value_or("0"));
    UtcTime since{wm == 0 ? std::numeric_limits<std::int64_t>::min() / 2
                          : wm - settings.scan_margin.count()};
    std::int64_t newest = wm;
    for (ItemKind kind : kAllItemKinds) {
      if (kind != ItemKind::kEmail && !primary_like()) continue;
      // Headers first: an item is read only when it is tracked and new to the cache, or
      // changed since the daemon last wrote or saw it (its change key moved).
      auto headers = must(store.scan_headers_since(kind, since));
      std::vector<EntryId> to_read;
      for (const auto& h : headers) {
        newest = std::max(newest, h.modified.ms);
        auto known_key = must(cache.store_change_key_of(h.entry_id));
        if (known_key ? h.change_key == *known_key : !h.tracked) continue;
        to_read.push_back(h.entry_id);
      }
      auto items = read_all(to_read);
      batch();
      for (std::size_t i = 0; i < to_read.size(); ++i) {
        const Result<StoreItem>& item = items[i];
        if (!item.ok()) {
          if (item.error().is(ErrorKind::kNotFound)) continue;  // gone since: S1/S3 see it
          throw CycleAbort{item.error()};
        }
        note_store_item(*item, must(cache.mapping_by_entry_id(to_read[i])), Surface::kNone);
      }
      commit();
      step("prepare", 0, 0);
    }
    // With nothing new the watermark would stay at the newest item for good, and every scan
    // would list again everything modified in the margin before it (a burst of N items: N).
    // It also moves up to now minus the margin once it lags by ten margins: the scanned window
    // stays bounded, and a quiet cycle writes the watermark at most that often.
    const std::int64_t floor_now = clock.now().ms - settings.scan_margin.count();
    if (newest < floor_now - 9 * settings.scan_margin.count()) newest = floor_now;
    set_pending(std::string(kWatermarkKey), std::to_string(newest));
    crash("prepare.scan");
  }

  // ---- store reads, many ids a request where the store can (get_many) ----

  // One result per id, in order; a store that answers with another count aborts the cycle.
  std::vector<Result<StoreItem>> read_all(const std::vector<EntryId>& ids) {
    if (ids.empty()) return {};
    auto items = store.get_many(ids);
    if (items.size() != ids.size())
      throw CycleAbort{Error::Internal("get_many gave " + std::to_string(items.size()) +
                                       " results for " + std::to_string(ids.size()) + " ids")};
    return items;
  }

  // The items a page of events names, read before the page is noted (an event's own step
  // then takes its item from here; a read is no earlier than the event list it follows).
  std::map<EntryId, Result<StoreItem>> read_ahead;
  void read_ahead_events(const std::vector<StoreEvent>& events) {
    read_ahead.clear();
    std::vector<EntryId> ids;
    std::set<EntryId> seen;
    for (const auto& ev : events)
      if (ev.action != Action::kDelete && ev.action != Action::kUntrack &&
          seen.insert(ev.entry_id).second)
        ids.push_back(ev.entry_id);
    auto items = read_all(ids);
    for (std::size_t i = 0; i < ids.size(); ++i) read_ahead.emplace(ids[i], std::move(items[i]));
  }
  Result<StoreItem> read_item(const EntryId& id) {
    if (auto it = read_ahead.find(id); it != read_ahead.end()) return it->second;
    return store.get(id);
  }

  void note_store_event(const StoreEvent& ev) {
    if (ev.kind != ItemKind::kEmail && !primary_like()) {
      hand_to_primary(ev);  // T5; a delegate's non-e-mail items are not its business (P4)
      return;
    }
    auto m = must(cache.mapping_by_entry_id(ev.entry_id));
    ChangeNote note;
    note.store_timestamp = ev.at;
    note.surface = ev.surface;
    if (ev.action == Action::kDelete || ev.action == Action::kUntrack) {
      if (!m) return;
      note.store = ev.action == Action::kDelete ? StoreChange::kDelete
                   : ev.delete_in_crm           ? StoreChange::kUntrackDeleteInCrm
                                                : StoreChange::kUntrack;
      must(cache.note_change(m->map_id, note));
      return;
    }
    auto item = read_item(ev.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) throw CycleAbort{item.error()};
      if (m) {
        note.store = StoreChange::kDelete;
        must(cache.note_change(m->map_id, note));
      }
      return;
    }
    note_store_item(*item, m, ev.surface);
  }

  void hand_to_primary(const StoreEvent& ev) {
    HandoffQueue* queue = store.handoff_queue();
    if (queue == nullptr) return;
    auto item = read_item(ev.entry_id);
    Folder folder = item.ok() ? item->folder : default_folder(ev.kind);
    if (immediate_sync(ev, classify(ev.kind, folder), role) != Timing::kHandToPrimary) return;
    must(queue->enqueue(to_queued(ev, settings.client_id)));
    ++report.queued;
  }

  void note_store_item(const StoreItem& item, const std::optional<Mapping>& m, Surface surface) {
    if (item.item.kind != ItemKind::kEmail && !primary_like()) return;
    ChangeNote note;
    note.store_timestamp = item.item.modified;
    note.surface = surface;
    if (!m) {
      if (!item.link.tracked) return;
      if (classify(item.item.kind, item.folder) == ItemClass::kDraftMail) return;  // T3
      // X1: a pending id stamped by an earlier attempt or another client is reused.
      CrmId id = item.link.crm_id ? *item.link.crm_id : CrmId::generate();
      if (auto other = must(cache.mapping_by_crm_id(id))) {
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
      must(cache.insert_mapping(fresh, note));
      return;
    }
    auto pending = must(cache.pending_change_of(m->map_id));
    auto pending_store = pending ? pending->store_change : StoreChange::kNone;
    if (!item.link.tracked) {
      // An untrack seen by the scan: keep what the event said (delete in CRM or not).
      if (pending_store == StoreChange::kUntrack ||
          pending_store == StoreChange::kUntrackDeleteInCrm ||
          pending_store == StoreChange::kDelete)
        return;
      note.store = StoreChange::kUntrack;
      must(cache.note_change(m->map_id, note));
      return;
    }
    if (item.change_key == m->store_change_key) return;  // C5: our own write
    if (pending_store == StoreChange::kCreate) return;
    if (!m->linked) {
      note.store = StoreChange::kCreate;
      must(cache.note_change(m->map_id, note));
      return;
    }
    if (m->original && same_fields(syncable_fields(m->entity, item.item.fields, false),
                                   syncable_fields(m->entity, *m->original, false)))
      return;  // only unmapped fields changed (M4), or nothing
    note.store = StoreChange::kUpdate;
    must(cache.note_change(m->map_id, note));
  }

  // ---- D10 ------------------------------------------------------------------

  // The guard counts the deletions pending now plus those made since the user last
  // confirmed, kept across cycles and restarts: S3 records at most reconcile_batch missing
  // items a cycle, so a vanished mailbox would otherwise reach CRM a slice at a time, each
  // slice under the minimum. The share is of the items synced at the last confirmation
  // (those linked now plus those deleted since).
  void guard_mass_deletes() {
    auto pending = must(cache.pending_deletions());
    std::int64_t linked = must(cache.linked_count());
    if (allow_mass_delete) {  // the user confirmed what was counted so far
      deleted_in_store = deleted_in_crm = 0;
      must(cache.set_meta({{std::string(kDeletedInStoreKey), std::nullopt},
                           {std::string(kDeletedInCrmKey), std::nullopt}}));
    } else {
      deleted_in_store = meta_int(kDeletedInStoreKey);
      deleted_in_crm = meta_int(kDeletedInCrmKey);
    }
    rules::MassDeleteFacts facts;
    facts.pending_in_store = pending.in_store;
    facts.pending_in_crm = pending.in_crm;
    facts.made_in_store = deleted_in_store;
    facts.made_in_crm = deleted_in_crm;
    facts.linked = linked;
    facts.ratio = settings.mass_delete_ratio;
    facts.min = settings.mass_delete_min;
    facts.confirmed = allow_mass_delete;
    const rules::MassDeleteVerdict verdict = rules::mass_delete_guard(facts);
    const std::int64_t base = verdict.base;
    hold_store_deletions = verdict.hold_store;
    hold_crm_deletions = verdict.hold_crm;
    must(cache.hold_deletions(Cache::Side::kStore, hold_store_deletions));
    must(cache.hold_deletions(Cache::Side::kCrm, hold_crm_deletions));
    auto notice = [&](std::int64_t held, std::int64_t made, std::string_view where) {
      report.held_deletions += held;
      std::string since =
          made > 0 ? " (and " + std::to_string(made) + " made since the last confirmation)" : "";
      report.notices.push_back("D10: " + std::to_string(held) + " deletions in " +
                               std::string(where) + " held back" + since + ": over " +
                               std::to_string(int(settings.mass_delete_ratio * 100)) + "% of " +
                               std::to_string(base) +
                               " synced items; run a sync with --allow-mass-delete to apply them");
    };
    if (hold_store_deletions) notice(pending.in_store, deleted_in_store, "the mailbox");
    if (hold_crm_deletions) notice(pending.in_crm, deleted_in_crm, "CRM");
  }

  std::int64_t meta_int(std::string_view key) {
    auto v = must(cache.get_meta(std::string(key)));
    return v ? std::stoll(*v) : 0;
  }

  // A deletion made on one side counts towards D10 until the user confirms; written in the
  // batch that records the deletion as applied (C3: a crash loses both or neither).
  void count_deletion(std::int64_t& counter, std::string_view key) {
    if (allow_mass_delete) return;
    ++counter;
    must(cache.set_meta({{std::string(key), std::to_string(counter)}}));
  }

  // ---- 2 and 3: apply ---------------------------------------------------------

  // Calls fn for each due change row, a page of rows at a time; page_end runs after the
  // page's rows (before its records are committed), for work gathered across the page.
  template <class Fn>
  void for_each_pending(
      std::string_view step_name, Fn fn,
      const std::function<void(const std::vector<PendingChange>&)>& page_start = {},
      const std::function<void()>& page_end = {}) {
    std::int64_t after = 0, done = 0, total = 0;
    for (const auto& [entity, c] : must(cache.counts())) total += c.pending;
    step(step_name, 0, total);
    const UtcTime now = clock.now();
    for (;;) {
      auto rows = must(cache.pending_changes(after, settings.page_size));
      if (rows.empty()) break;
      // A page's records are committed together: a crash loses them all, and the restart
      // redoes each item from its change row (X1 finds the copies already made).
      batch();
      if (page_start) page_start(rows);
      for (const auto& row : rows) {
        after = row.change_id;
        if (row.held || row.next_attempt > now) continue;
        auto m = must(cache.mapping(row.map_id));
        if (!m) continue;
        if (only && !only->count(m->entry_id)) continue;
        if (primary_like() && may_act && !may_act())
          throw CycleAbort{Error::Permission("the primary lease may have expired: stopped")};
        fn(row, *m);
        step(step_name, ++done, total);
      }
      if (page_end) page_end();
      commit();
    }
  }

  // A store item to create for a new CRM record, waiting for the page's create_many.
  struct PendingStoreCreate {
    PendingChange row;
    Mapping m;  // with the original state, owner and state it will be recorded with
    NewStoreItem item;
  };
  std::vector<PendingStoreCreate> store_creates;

  // The page's new store items in one call (one transaction or request); each result
  // finishes or fails its own item. Each item carries its record's id (X1), so a crash
  // before their records are committed is redone by find_by_crm_id.
  void send_store_creates() {
    if (store_creates.empty()) return;
    std::vector<PendingStoreCreate> todo = std::move(store_creates);
    store_creates.clear();
    std::vector<NewStoreItem> items;
    items.reserve(todo.size());
    for (const auto& c : todo) items.push_back(c.item);
    auto results = store.create_many(items);
    std::optional<Error> stop;
    for (std::size_t i = 0; i < todo.size(); ++i) {
      Result<void> r = i < results.size() ? Result<void>(Ok())
                                          : Result<void>(Error::Internal("create_many: no result"));
      if (r.ok() && !results[i].ok()) r = results[i].error();
      if (r.ok()) {
        crash("crm-to-store.created");
        Mapping& m = todo[i].m;
        m.entry_id = results[i]->entry_id;
        m.store_change_key = results[i]->change_key;
        m.linked = true;
        m.verified_time = clock.now();
        ++report.to_store;
        count(m.entity, "crm-to-store");
        r = cache.commit_applied(m, todo[i].row.change_id, {});
      }
      if (r.ok()) continue;
      Error e = r.error().context("CRM " + std::string(to_string(todo[i].m.entity)) + " " +
                                  todo[i].m.crm_id.str());
      record_item_failure(todo[i].row, e);
      if (rules::ends_cycle(e) && !stop) stop = e;
    }
    if (stop) throw CycleAbort{*stop};
  }

  // X1 for a whole page: the look-ups of the page's new CRM records in one call, before its
  // rows (the page's own creates go out at its end, so none is missed).
  std::map<CrmId, Result<std::optional<StoreItem>>> linked_ahead;
  void read_ahead_links(const std::vector<PendingChange>& rows) {
    linked_ahead.clear();
    std::vector<CrmId> ids;
    for (const auto& row : rows) {
      if (row.crm_change != CrmChange::kUpsert || !row.crm_record) continue;
      if (row.held || row.next_attempt > clock.now()) continue;
      auto m = must(cache.mapping(row.map_id));
      if (!m || !m->entry_id.empty() || m->deleted_locally) continue;
      if (only && !only->count(m->entry_id)) continue;  // as the rows themselves are skipped
      if (!linked_ahead.count(row.crm_record->id)) {
        ids.push_back(row.crm_record->id);
        linked_ahead.emplace(row.crm_record->id, std::optional<StoreItem>());
      }
    }
    if (ids.empty()) return;
    auto found = store.find_by_crm_ids(ids);
    if (found.size() != ids.size())
      throw CycleAbort{Error::Internal("find_by_crm_ids gave " + std::to_string(found.size()) +
                                       " results for " + std::to_string(ids.size()) + " ids")};
    for (std::size_t i = 0; i < ids.size(); ++i) linked_ahead.at(ids[i]) = std::move(found[i]);
  }
  Result<std::optional<StoreItem>> find_linked(const CrmId& id) {
    auto it = linked_ahead.find(id);
    if (it == linked_ahead.end()) return store.find_by_crm_id(id);
    auto found = std::move(it->second);
    linked_ahead.erase(it);  // used once: a second row for the record asks again
    return found;
  }

  void crm_to_store_step() {
    for_each_pending(
        "crm-to-store",
        [&](const PendingChange& row, Mapping& m) {
          if (row.crm_change == CrmChange::kNone) return;
          if (row.store_change == StoreChange::kDelete ||
              row.store_change == StoreChange::kUntrack ||
              row.store_change == StoreChange::kUntrackDeleteInCrm)
            return;  // the store side's removal decides (step 3)
          Result<void> r = row.crm_change == CrmChange::kUpsert ? apply_crm_upsert(row, m)
                                                                : apply_crm_removal(row, m);
          if (!r.ok()) item_failed(row, r.error());
        },
        [&](const std::vector<PendingChange>& rows) { read_ahead_links(rows); },
        [&] {
          linked_ahead.clear();
          send_store_creates();
        });
  }

  void store_to_crm_step() {
    for_each_pending(
        "store-to-crm",
        [&](const PendingChange& row, Mapping& m) {
          if (row.store_change == StoreChange::kNone) return;
          Result<void> r;
          switch (row.store_change) {
            case StoreChange::kCreate:
              r = apply_store_create(row, m);
              break;
            case StoreChange::kUpdate:
              r = m.linked ? apply_store_update(row, m) : apply_store_create(row, m);
              break;
            case StoreChange::kDelete:
            case StoreChange::kUntrack:
            case StoreChange::kUntrackDeleteInCrm:
              r = apply_store_removal(row, m, row.store_change);
              break;
            case StoreChange::kNone:
              break;
          }
          if (!r.ok()) item_failed(row, r.error());
        },
        [&](const std::vector<PendingChange>& rows) { read_ahead_new_items(rows); },
        [&] { send_creates(); });
    page = PageReadAhead{};
  }

  // ---- store -> CRM creates, a page at a time --------------------------------

  // What a page of store-to-crm rows needs from both sides, fetched once for the page.
  struct PageReadAhead {
    std::map<EntryId, StoreItem> items;  // new contacts and e-mails, read for their addresses
    std::set<std::string> looked_up;     // lower-cased addresses asked for (E2)
    std::map<std::string, std::vector<CrmRecord>> matches;  // address -> CRM contacts
    std::set<std::string> parties_looked_up;  // lower-cased e-mail party addresses (U7)
    std::map<std::string, std::vector<EntityRef>> parties;  // address -> users and contacts
  };
  PageReadAhead page;
  // A create decided and checked, waiting for the page's ExecuteMultiple.
  struct PendingCreate {
    PendingChange row;
    Mapping m;
    StoreItem item;
    FieldMap attributes;
  };
  std::vector<PendingCreate> creates;

  // For a whole page of new items: E2's lookup of the new tracked contacts' addresses, and
  // U7's lookup of the new tracked e-mails' party addresses, one request (or a few) each.
  void read_ahead_new_items(const std::vector<PendingChange>& rows) {
    page = PageReadAhead{};
    std::vector<EntryId> ids;
    for (const auto& row : rows) {
      if (row.store_change != StoreChange::kCreate && row.store_change != StoreChange::kUpdate)
        continue;
      if (row.held || row.next_attempt > clock.now()) continue;
      auto m = must(cache.mapping(row.map_id));
      if (!m || m->linked) continue;
      if (m->entity != CrmEntity::kContact && m->entity != CrmEntity::kEmail) continue;
      if (only && !only->count(m->entry_id)) continue;
      ids.push_back(m->entry_id);
    }
    auto items = read_all(ids);
    std::vector<std::string> addresses, party_addresses;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto& item = items[i];
      if (!item.ok()) continue;  // the row's own step reads it again and decides
      if (item->item.kind == ItemKind::kEmail) {
        if (classify(item->item.kind, item->folder) != ItemClass::kDraftMail)
          for (auto& a : unresolved_addresses(item->item.fields))
            if (page.parties_looked_up.insert(a).second) party_addresses.push_back(std::move(a));
      } else {
        std::string email = ascii_lower(item->item.text("Email1Address"));
        if (!email.empty() && !item->link.crm_id_pending && page.looked_up.insert(email).second)
          addresses.push_back(email);
      }
      page.items.emplace(ids[i], std::move(*item));
    }
    if (!party_addresses.empty()) {
      auto found = crm.find_parties_by_emails(party_addresses);
      if (found.ok())
        for (auto& p : *found) page.parties[p.address].push_back(std::move(p.record));
      else  // each e-mail asks again and handles the failure as its own (E1, E3)
        page.parties_looked_up.clear();
    }
    if (addresses.empty()) return;
    auto found = crm.find_contacts_by_emails(addresses);
    if (!found.ok()) {  // each row asks again and handles the failure as its own (E1, E3)
      page.looked_up.clear();
      return;
    }
    group_by_address(*found, page.looked_up, page.matches);
  }

  // The lower-cased addresses of an e-mail's parties (From, To, Cc) that name no record yet.
  static std::vector<std::string> unresolved_addresses(const FieldMap& fields) {
    std::vector<std::string> out;
    for (const char* f : {"From", "To", "Cc"}) {
      auto it = fields.find(f);
      if (it == fields.end()) continue;
      if (const auto* list = std::get_if<PartyList>(&it->second))
        for (const auto& p : *list)
          if (!p.ref && !p.address.empty()) out.push_back(ascii_lower(p.address));
    }
    return out;
  }

  // U7: the parties of a tracked e-mail resolved to CRM records by address, as CRM resolves
  // a promoted e-mail's: a system user (internalemailaddress) first, else a contact
  // (emailaddress1-3); an address that matches no record, or several of one kind, keeps only
  // its address (addressused). Addresses the page's lookup did not cover are asked now, in
  // one request for the whole e-mail.
  Result<void> resolve_parties(FieldMap& attrs) {
    std::vector<std::string> missing;
    for (const char* a : {"from", "to", "cc"}) {
      auto it = attrs.find(a);
      if (it == attrs.end()) continue;
      if (const auto* list = std::get_if<PartyList>(&it->second))
        for (const auto& p : *list)
          if (!p.ref && !p.address.empty())
            if (auto l = ascii_lower(p.address); page.parties_looked_up.insert(l).second)
              missing.push_back(std::move(l));
    }
    if (!missing.empty()) {
      auto found = crm.find_parties_by_emails(missing);
      if (!found.ok()) {
        for (const auto& a : missing) page.parties_looked_up.erase(a);
        return found.error();
      }
      for (auto& p : *found) page.parties[p.address].push_back(std::move(p.record));
    }
    for (const char* a : {"from", "to", "cc"}) {
      auto it = attrs.find(a);
      if (it == attrs.end()) continue;
      auto* list = std::get_if<PartyList>(&it->second);
      if (!list) continue;
      for (auto& p : *list) {
        if (p.ref || p.address.empty()) continue;
        auto found = page.parties.find(ascii_lower(p.address));
        if (found != page.parties.end()) p.ref = party_record(found->second);
      }
    }
    return Ok();
  }

  // The one record an address stands for among its matches: the system user, else the
  // contact; none when there is no match or several of the first kind that matches.
  static std::optional<EntityRef> party_record(const std::vector<EntityRef>& matches) {
    for (const char* kind : {"systemuser", "contact"}) {
      std::set<CrmId> ids;
      for (const auto& r : matches)
        if (r.entity == kind) ids.insert(r.id);
      if (ids.size() == 1) return EntityRef{kind, *ids.begin(), ""};
      if (ids.size() > 1) return std::nullopt;
    }
    return std::nullopt;
  }

  // U7: what a tracked e-mail's create carries beyond the mapped fields: its direction, its
  // completed state (Sent or Received, set through SetState after the create), its parties
  // resolved to CRM records, and the user as the sender of outgoing mail that names none.
  Result<void> complete_email(const StoreItem& item, FieldMap& attrs) {
    const bool outgoing = item.folder == Folder::kSentItems;
    attrs.insert_or_assign("directioncode", Value{outgoing});
    attrs.insert_or_assign("statecode", Value{kEmailCompleted});
    attrs.insert_or_assign("statuscode", Value{tracked_email_status(item.folder)});
    auto from = attrs.find("from");
    const auto* senders = from == attrs.end() ? nullptr : std::get_if<PartyList>(&from->second);
    if (outgoing && (senders == nullptr || senders->empty()))
      attrs.insert_or_assign("from",
                             Value{PartyList{Party{"", "", EntityRef{"systemuser", me, ""}}}});
    return resolve_parties(attrs);
  }

  static void group_by_address(const std::vector<CrmRecord>& records,
                               const std::set<std::string>& wanted,
                               std::map<std::string, std::vector<CrmRecord>>& out) {
    for (const auto& rec : records) {
      std::set<std::string> own;
      for (const char* a : {"emailaddress1", "emailaddress2", "emailaddress3"}) {
        auto it = rec.attributes.find(a);
        if (it == rec.attributes.end()) continue;
        if (const auto* t = std::get_if<std::string>(&it->second))
          if (auto l = ascii_lower(*t); wanted.count(l) && own.insert(l).second)
            out[l].push_back(rec);
      }
    }
  }

  // The CRM contacts with this address (E2): from the page's lookup, or asked now.
  Result<std::vector<CrmRecord>> contacts_with_email(const std::string& email) {
    std::string key = ascii_lower(email);
    if (!page.looked_up.count(key)) {
      auto found = crm.find_contacts_by_emails({email});
      if (!found.ok()) return found.error();
      page.looked_up.insert(key);
      group_by_address(*found, {key}, page.matches);
    }
    auto it = page.matches.find(key);
    return it == page.matches.end() ? std::vector<CrmRecord>{} : it->second;
  }

  // The page's creates in one ExecuteMultiple (X1: each id is on its item already); each
  // result finishes or fails its own item.
  void send_creates() {
    if (creates.empty()) return;
    std::vector<PendingCreate> todo = std::move(creates);
    creates.clear();
    if (primary_like() && may_act && !may_act())
      throw CycleAbort{Error::Permission("the primary lease may have expired: stopped")};
    std::vector<CrmOperation> ops;
    ops.reserve(todo.size());
    for (const auto& c : todo)
      ops.push_back(
          CrmOperation{CrmOperation::Type::kCreate, c.m.entity, c.m.crm_id, c.attributes, 0, -1});
    auto results = crm.execute_batch(ops);
    std::optional<Error> stop;
    for (std::size_t i = 0; i < todo.size(); ++i) {
      Result<void> r = results.ok() && i < results->size() ? (*results)[i]
                       : results.ok() ? Result<void>(Error::Invalid("ExecuteMultiple: no result"))
                                      : Result<void>(results.error());
      if (r.ok() || r.error().is(ErrorKind::kConflict))  // kConflict: it exists (X1)
        r = finish_create(todo[i]);
      if (r.ok()) continue;
      Error e = r.error().context(std::string(to_string(todo[i].m.entity)) + " " +
                                  todo[i].m.crm_id.str());
      record_item_failure(todo[i].row, e);
      if (rules::ends_cycle(e) && !stop) stop = e;
    }
    if (stop) throw CycleAbort{*stop};
  }

  Result<void> finish_create(PendingCreate& c) {
    crash("store-to-crm.created");
    Mapping& m = c.m;
    auto key = store.update(c.item.entry_id, c.item.change_key, {}, tracked_link(m));
    if (!key.ok()) return key.error();
    m.linked = true;
    m.create_pending = false;
    m.original = syncable_fields(m.entity, c.item.item.fields, false);
    m.store_change_key = *key;
    m.owner = me;
    m.crm_state = int_attr(c.attributes, "statecode").value_or(0);
    m.verified_time = clock.now();
    ++report.to_crm;
    count(m.entity, "store-to-crm");
    return cache.commit_applied(m, c.row.change_id, {});
  }

  // U6: conditional CRM updates a merge tries before the item waits for a later cycle (E1).
  static constexpr int kCrmWriteAttempts = 3;

  static std::vector<ConflictRecord> conflict_records(const MergeOutcome& out, UtcTime at) {
    std::vector<ConflictRecord> records;
    for (const auto& c : out.conflicts) {
      ConflictRecord r;
      r.field = c.field;
      r.store_value = c.store_value;
      r.crm_value = c.crm_value;
      r.winner = c.crm_won ? "crm" : "store";
      r.at = at;
      records.push_back(std::move(r));
    }
    return records;
  }

  // M3, C3: the losing values are kept before either side is overwritten; after a crash in
  // between, the replayed merge sees both sides equal and would not know them.
  Result<void> keep_conflicts(Mapping& m, const std::vector<ConflictRecord>& conflicts) {
    if (conflicts.empty()) return Ok();
    CRMSYNC_TRY(cache.commit_applied(m, 0, conflicts));
    return make_durable();
  }

  using MergeFn = MergeOutcome (*)(const MergeInput&);

  // Merges `in` (with `merge`) and writes the outcome to both sides (store first, then CRM:
  // M2), then records it (C2, X2). The CRM update is conditional on the row version `rec` was read
  // with (U6): when CRM moved meanwhile, the record is read again and merged again with the
  // store side as the user left it, and the store gets what that merge changes; at most
  // kCrmWriteAttempts times, then the item stays pending (E1). CRM is never overwritten blind.
  Result<void> write_merge(const PendingChange& row, Mapping& m, const StoreItem& item,
                           const CrmRecord& rec, const MergeInput& in,
                           const std::optional<CrmLink>& link, MergeFn merge = merge_fields) {
    MergeOutcome out = merge(in);
    std::vector<ConflictRecord> conflicts = conflict_records(out, clock.now());
    CRMSYNC_TRY(keep_conflicts(m, conflicts));
    std::string key = item.change_key;
    // The item must end up tracked, with the record's id and no pending create (X1).
    std::optional<CrmLink> set_link = link;
    if (!set_link && item.link != tracked_link(m)) set_link = tracked_link(m);
    bool counted = false;  // in report.to_store
    auto count_store_write = [&] {
      if (counted) return;
      counted = true;
      ++report.to_store;
      count(m.entity, "crm-to-store");
    };
    if (!out.to_store.empty() || set_link) {
      auto r = store.update(item.entry_id, item.change_key, out.to_store, set_link);
      if (!r.ok()) return r.error().context("store item " + item.entry_id.str());
      key = *r;
      if (!out.to_store.empty()) count_store_write();
      crash("merge.store-written");
    }
    const std::string what = std::string(to_string(m.entity)) + " " + m.crm_id.str();
    CrmRecord current = rec;
    FieldMap in_store = out.to_store;  // the store fields this merge has written so far
    FieldMap attrs;
    // A record read without a version (a change noted before U6) is read again first; a
    // server that sends none gets the update without a condition.
    bool reread = current.row_version.empty();
    for (int tries = 0;;) {
      attrs.clear();
      if (!out.to_crm.empty()) {
        auto a = store_to_crm(m.entity, out.to_crm, current.attributes, ctx());
        if (!a.ok()) return a.error();
        attrs = std::move(*a);
      }
      if (attrs.empty()) break;
      if (!reread) {
        auto r = crm.update(m.entity, m.crm_id, attrs, current.row_version);
        if (r.ok()) {
          ++report.to_crm;
          count(m.entity, "store-to-crm");
          crash("merge.crm-written");
          break;
        }
        if (!r.error().is(ErrorKind::kConflict)) return r.error().context(what);
        if (++tries >= kCrmWriteAttempts)
          return Error::Conflict(what + ": the record changed in CRM again at each of " +
                                 std::to_string(kCrmWriteAttempts) +
                                 " attempts to write the merge; it waits for the next sync (" +
                                 r.error().message() + ")");
      }
      reread = false;
      auto fresh = crm.retrieve(m.entity, m.crm_id);
      if (!fresh.ok()) return fresh.error().context(what);
      auto conv = crm_to_store(m.entity, fresh->attributes, ctx());
      if (!conv.ok()) return conv.error().context("CRM " + what);
      MergeInput again = in;
      again.crm = &*conv;
      again.crm_modified = fresh->modified_on;
      MergeOutcome next = merge(again);
      std::vector<ConflictRecord> found;
      for (auto& c : conflict_records(next, clock.now())) {
        bool known = std::any_of(conflicts.begin(), conflicts.end(), [&](const auto& k) {
          return k.field == c.field && equivalent(k.store_value, c.store_value) &&
                 equivalent(k.crm_value, c.crm_value);
        });
        if (!known) found.push_back(std::move(c));
      }
      CRMSYNC_TRY(keep_conflicts(m, found));
      conflicts.insert(conflicts.end(), found.begin(), found.end());
      // The store holds the user's values but where this merge wrote; it must hold them but
      // where the new merge writes (a field whose CRM change was undone meanwhile goes back).
      auto user_value = [&](const std::string& name) {
        auto it = in.store->find(name);
        return it == in.store->end() ? Value{} : it->second;
      };
      FieldMap fix;
      for (const FieldMap* fields : {&in_store, &next.to_store})
        for (const auto& field : *fields) {
          const std::string& name = field.first;
          auto w = next.to_store.find(name);
          Value want = w != next.to_store.end() ? w->second : user_value(name);
          auto h = in_store.find(name);
          Value have = h != in_store.end() ? h->second : user_value(name);
          if (!equivalent(want, have)) fix.insert_or_assign(name, want);
        }
      if (!fix.empty()) {
        auto r = store.update(item.entry_id, key, fix, std::nullopt);
        if (!r.ok()) return r.error().context("store item " + item.entry_id.str());
        key = *r;
        count_store_write();
        for (const auto& [name, value] : fix) in_store.insert_or_assign(name, value);
      }
      current = std::move(*fresh);
      out = std::move(next);
    }
    report.conflicts += static_cast<std::int64_t>(conflicts.size());
    m.entry_id = item.entry_id;
    m.original = out.merged;
    m.store_change_key = key;
    m.linked = true;
    m.create_pending = false;
    if (current.owner) m.owner = current.owner;
    if (auto s = int_attr(attrs, "statecode"))
      m.crm_state = s;
    else if (auto s2 = int_attr(current.attributes, "statecode"))
      m.crm_state = s2;
    return cache.commit_applied(m, row.change_id, {});
  }

  CrmLink tracked_link(const Mapping& m) const {
    CrmLink link;
    link.tracked = true;
    link.crm_id = m.crm_id;
    if (m.entity != crm_entity_of(store_kind_of(m.entity))) link.crm_entity = m.entity;
    return link;
  }

  Result<void> apply_crm_upsert(const PendingChange& row, Mapping& m) {
    if (!row.crm_record) return Error::Internal("change without its CRM record");
    const CrmRecord& rec = *row.crm_record;
    auto conv = crm_to_store(rec.entity, rec.attributes, ctx());
    if (!conv.ok())
      return conv.error().context("CRM " + std::string(to_string(rec.entity)) + " " + rec.id.str());
    if (m.entry_id.empty()) {
      if (m.deleted_locally) return cache.commit_applied(m, row.change_id, {});
      // X1: the store copy may exist already (a crash after the create): look it up first.
      auto found = find_linked(rec.id);
      if (!found.ok()) return found.error();
      if (*found) {
        FieldMap base = syncable_fields(rec.entity, *conv, true);
        MergeInput in{rec.entity, &(*found)->item.fields, (*found)->item.modified,
                      &*conv,     rec.modified_on,        &base};
        return write_merge(row, m, **found, rec, in, std::nullopt);
      }
      NewStoreItem fresh;
      fresh.folder = default_folder(store_kind_of(rec.entity));
      fresh.item.kind = store_kind_of(rec.entity);
      fresh.item.fields = *conv;
      fresh.link = tracked_link(m);
      m.original = syncable_fields(rec.entity, *conv, true);
      m.owner = rec.owner;
      m.crm_state = int_attr(rec.attributes, "statecode");
      store_creates.push_back(PendingStoreCreate{row, m, std::move(fresh)});
      return Ok();  // created with the page's other new items (send_store_creates)
    }
    auto item = store.get(m.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) return item.error();
      return apply_store_removal(row, m, StoreChange::kDelete);  // deleted meanwhile
    }
    if (!item->link.tracked) return apply_store_removal(row, m, StoreChange::kUntrack);
    MergeInput in{m.entity, &item->item.fields, item->item.modified,
                  &*conv,   rec.modified_on,    m.linked && m.original ? &*m.original : nullptr};
    return write_merge(row, m, *item, rec, in, std::nullopt);
  }

  // D6–D9: a record deleted in CRM, or one that left the filter (R2).
  Result<void> apply_crm_removal(const PendingChange& row, Mapping& m) {
    if (m.entry_id.empty()) {
      if (m.deleted_locally) return cache.forget_mapping(m.map_id);
      // X1: a crash after the store copy was created and before it was recorded leaves a
      // copy linked to the record: look it up, so that the deletion rules apply to it.
      auto found = store.find_by_crm_id(m.crm_id);
      if (!found.ok()) return found.error();
      if (!*found) return cache.forget_mapping(m.map_id);
      m.entry_id = (*found)->entry_id;
    }
    auto item = store.get(m.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) return item.error();
      return cache.forget_mapping(m.map_id);
    }
    const FieldMap& f = item->item.fields;
    rules::StoreFacts facts;
    facts.left_filter = row.crm_change == CrmChange::kLeftFilter;
    facts.user_owns = m.owner && *m.owner == me;
    if (m.entity == CrmEntity::kAppointment) {
      auto start = time_attr(f, "Start");
      facts.starts_in_future = start && *start > clock.now();
    }
    facts.was_open = m.crm_state.value_or(0) == 0;
    const bool delete_in_store =
        rules::on_crm_removal(m.entity, facts).action == rules::CrmAction::kDeleteInStore;
    if (delete_in_store) {
      auto r = store.remove(m.entry_id);
      if (!r.ok() && !r.error().is(ErrorKind::kNotFound)) return r.error();
      ++report.deleted_in_store;
      count_deletion(deleted_in_store, kDeletedInStoreKey);
    } else {
      auto r = store.update(m.entry_id, item->change_key, {}, CrmLink{});
      if (!r.ok()) return r.error();
      ++report.unlinked;
    }
    crash("crm-removal.store-written");
    return cache.forget_mapping(m.map_id);
  }

  Result<void> apply_store_create(const PendingChange& row, Mapping& m) {
    StoreItem item;
    if (auto ahead = page.items.find(m.entry_id); ahead != page.items.end()) {
      item = std::move(ahead->second);  // read at the start of this page
      page.items.erase(ahead);
    } else {
      auto got = store.get(m.entry_id);
      if (!got.ok()) {
        if (!got.error().is(ErrorKind::kNotFound)) return got.error();
        return cache.forget_mapping(m.map_id);  // deleted before it reached CRM
      }
      item = std::move(*got);
    }
    if (!item.link.tracked || classify(item.item.kind, item.folder) == ItemClass::kDraftMail)
      return cache.forget_mapping(m.map_id);  // untracked again, or a draft (T3)

    // E2: a contact with exactly one CRM match by e-mail is linked, not created twice.
    if (m.entity == CrmEntity::kContact && !item.link.crm_id_pending) {
      std::string email = item.item.text("Email1Address");
      if (!email.empty()) {
        auto found = contacts_with_email(email);
        if (!found.ok()) return found.error();
        if (found->size() == 1 && !must(cache.mapping_by_crm_id(found->front().id))) {
          const CrmRecord& rec = found->front();
          auto conv = crm_to_store(rec.entity, rec.attributes, ctx());
          if (!conv.ok()) return conv.error();
          m.crm_id = rec.id;
          m.create_pending = false;
          MergeInput in{m.entity, &item.item.fields, item.item.modified,
                        &*conv,   rec.modified_on,   nullptr};
          report.notices.push_back("E2: contact " + item.entry_id.str() +
                                   " linked to the existing CRM contact " + rec.id.str() +
                                   " with the same e-mail address " + email);
          return write_merge(row, m, item, rec, in, tracked_link(m));
        }
      }
    }

    // A record with this id can exist only if an earlier attempt (ours or another client's)
    // stamped the id on the item first; an item that carried no id has none in CRM.
    const bool maybe_in_crm = item.link.crm_id.has_value();
    // X1: intent first: the chosen id is on the item and in the cache before CRM sees it.
    if (item.link.crm_id != m.crm_id || !item.link.crm_id_pending) {
      CrmLink link = tracked_link(m);
      link.crm_id_pending = true;
      auto key = store.update(item.entry_id, item.change_key, {}, link);
      if (!key.ok()) return key.error();
      item.change_key = *key;
      item.link = link;
      m.store_change_key = *key;
      m.create_pending = true;
      CRMSYNC_TRY(cache.save_mapping(m));
      crash("store-to-crm.intent");
    }
    if (maybe_in_crm) {
      auto existing = crm.retrieve(m.entity, m.crm_id);
      if (existing.ok()) {  // created by an earlier attempt or another client: link to it
        if (m.entity == CrmEntity::kEmail && is_open_state(m.entity, existing->attributes)) {
          // U7: that attempt stopped between the create and its SetState: complete it now.
          const std::int64_t status = tracked_email_status(item.folder);
          CRMSYNC_TRY(crm.set_state(m.entity, m.crm_id, static_cast<int>(kEmailCompleted),
                                    static_cast<int>(status)));
          existing->attributes.insert_or_assign("statecode", Value{kEmailCompleted});
          existing->attributes.insert_or_assign("statuscode", Value{status});
          crash("store-to-crm.email-completed");
        }
        auto conv = crm_to_store(m.entity, existing->attributes, ctx());
        if (!conv.ok()) return conv.error();
        MergeInput in{m.entity, &item.item.fields,     item.item.modified,
                      &*conv,   existing->modified_on, nullptr};
        return write_merge(row, m, item, *existing, in, tracked_link(m));
      }
      if (!existing.error().is(ErrorKind::kNotFound)) return existing.error();
    }

    auto attrs = store_to_crm(m.entity, item.item.fields, {}, ctx());
    if (!attrs.ok()) return attrs.error().context("store item " + item.entry_id.str());
    if (m.entity == CrmEntity::kEmail) {
      auto completed = complete_email(item, *attrs);
      if (!completed.ok()) return completed.error().context("store item " + item.entry_id.str());
    }
    creates.push_back(PendingCreate{row, m, std::move(item), std::move(*attrs)});
    return Ok();  // sent with the page's other creates (send_creates)
  }

  Result<void> apply_store_update(const PendingChange& row, Mapping& m) {
    auto item = store.get(m.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) return item.error();
      return apply_store_removal(row, m, StoreChange::kDelete);
    }
    if (!item->link.tracked) return apply_store_removal(row, m, StoreChange::kUntrack);
    auto rec = crm.retrieve(m.entity, m.crm_id);
    if (!rec.ok()) {
      if (!rec.error().is(ErrorKind::kNotFound)) return rec.error();
      PendingChange as_deleted = row;
      as_deleted.crm_change = CrmChange::kDelete;
      return apply_crm_removal(as_deleted, m);
    }
    auto conv = crm_to_store(m.entity, rec->attributes, ctx());
    if (!conv.ok()) return conv.error();
    MergeInput in{m.entity, &item->item.fields, item->item.modified,
                  &*conv,   rec->modified_on,   m.original ? &*m.original : nullptr};
    // G1, G5: with CRM -> store off, only the store's changes go (the retry merges alike).
    return write_merge(row, m, *item, *rec, in, std::nullopt,
                       crm_to_store_on(m.entity) ? merge_fields : merge_store_changes_only);
  }

  // D1–D5, D11: the user deleted or untracked an item in the store.
  Result<void> apply_store_removal(const PendingChange& row, Mapping& m, StoreChange change) {
    if (row.crm_change == CrmChange::kDelete || row.crm_change == CrmChange::kLeftFilter) {
      // Gone on both sides. A record deleted by a run killed before it recorded that is seen
      // here as deleted in CRM when a fetch (the U4 sweep, a change token) finds it first:
      // D10 counts it as the replay below does.
      if (row.crm_change == CrmChange::kDelete && change != StoreChange::kUntrack && m.linked &&
          rules::needs_crm_record(m.entity))
        count_deletion(deleted_in_crm, kDeletedInCrmKey);
      return unlink_store_item(m);
    }
    const rules::StoreTrigger trigger =
        change == StoreChange::kDelete               ? rules::StoreTrigger::kDelete
        : change == StoreChange::kUntrackDeleteInCrm ? rules::StoreTrigger::kUntrackDeleteInCrm
                                                     : rules::StoreTrigger::kUntrack;
    rules::CrmFacts facts;
    if (rules::needs_crm_record(m.entity) && m.linked) {
      auto rec = crm.retrieve(m.entity, m.crm_id);
      if (!rec.ok() && !rec.error().is(ErrorKind::kNotFound)) return rec.error();
      // Gone already: perhaps deleted by a run killed before it recorded that (C3). D10 counts
      // it, so that a guard resumed after a crash never lets one more through than it would
      // have without the crash (counting one someone else deleted only holds sooner).
      if (!rec.ok() && trigger != rules::StoreTrigger::kUntrack)
        count_deletion(deleted_in_crm, kDeletedInCrmKey);
      if (rec.ok()) {
        auto start = time_attr(rec->attributes, "scheduledstart");
        facts.known = true;
        facts.open = is_open_state(m.entity, rec->attributes);
        facts.user_owns = rec->owner && *rec->owner == me;
        facts.user_organizes = party_has(rec->attributes, "organizer", me);
        facts.starts_in_future = start && *start > clock.now();
      }
    }
    const rules::StoreDecision decision = rules::on_store_removal(m.entity, trigger, facts);
    const bool delete_in_crm = decision.action == rules::StoreAction::kDeleteInCrm;
    if (delete_in_crm && m.linked) {
      if (hold_crm_deletions) return Ok();
      auto r = crm.remove(m.entity, m.crm_id);
      if (!r.ok() && !r.error().is(ErrorKind::kNotFound)) return r.error();
      ++report.deleted_in_crm;
      count_deletion(deleted_in_crm, kDeletedInCrmKey);
      crash("store-removal.crm-deleted");
    }
    if (decision.action == rules::StoreAction::kKeepDeletedLocally && m.linked) {
      // D1: keep the pair so the record is not brought back.
      m.deleted_locally = true;
      m.linked = false;
      m.entry_id = EntryId();
      m.original.reset();
      return cache.commit_applied(m, row.change_id, {});
    }
    return unlink_store_item(m);
  }

  // The item (if it is still there) keeps no CRM link; the pair is forgotten.
  Result<void> unlink_store_item(Mapping& m) {
    if (!m.entry_id.empty()) {
      auto item = store.get(m.entry_id);
      if (item.ok() && (item->link.tracked || item->link.crm_id)) {
        auto r = store.update(m.entry_id, item->change_key, {}, CrmLink{});
        if (!r.ok()) return r.error();
      } else if (!item.ok() && !item.error().is(ErrorKind::kNotFound)) {
        return item.error();
      }
    }
    ++report.unlinked;
    return cache.forget_mapping(m.map_id);
  }

  // ---- 4. post, 5. reconcile ------------------------------------------------

  void post() {
    std::vector<std::pair<std::string, std::optional<std::string>>> values;
    for (CrmEntity e : kAllCrmEntities) {
      for (const std::string& key : {token_key(e), modified_key(e), sweep_key(e)}) {
        if (auto value = must(cache.get_meta(pending(key)))) {
          values.emplace_back(key, *value);
          values.emplace_back(pending(key), std::nullopt);
        }
      }
    }
    if (auto wm = must(cache.get_meta(std::string(kWatermarkPendingKey)))) {
      values.emplace_back(std::string(kWatermarkKey), *wm);
      values.emplace_back(std::string(kWatermarkPendingKey), std::nullopt);
    }
    if (!values.empty()) must(cache.set_meta(values));
    crash("post");
  }

  void reconcile() {
    auto oldest = must(cache.oldest_verified(settings.reconcile_batch));
    std::vector<EntryId> ids;
    for (const auto& m : oldest) ids.push_back(m.entry_id);
    auto items = read_all(ids);
    std::int64_t done = 0;
    batch();
    for (std::size_t i = 0; i < oldest.size(); ++i) {
      const Mapping& m = oldest[i];
      const Result<StoreItem>& item = items[i];
      ChangeNote note;
      note.store_timestamp = clock.now();
      if (item.ok() && item->link.tracked) {
        must(cache.set_verified(m.map_id, clock.now()));
      } else if (item.ok()) {
        note.store = StoreChange::kUntrack;  // S3 also catches untracks no event reported
        must(cache.note_change(m.map_id, note));
      } else if (item.error().is(ErrorKind::kNotFound)) {
        note.store = StoreChange::kDelete;
        must(cache.note_change(m.map_id, note));
      } else {
        throw CycleAbort{item.error()};
      }
      step("reconcile", ++done, static_cast<std::int64_t>(oldest.size()));
    }
    commit();
    crash("reconcile");
  }

  void identify() {
    auto cached_user = must(cache.get_meta(std::string(kUserKey)));
    if (only && cached_user) {
      if (auto id = CrmId::parse(*cached_user); id.ok()) {
        me = *id;
        return;
      }
    }
    me = must(crm.who_am_i()).user_id;
    if (!cached_user || *cached_user != me.str())
      must(cache.set_meta({{std::string(kUserKey), me.str()}}));
    if (only) return;
    sync_privilege = must(crm.privileges(me)).sync_to_outlook;
    if (!sync_privilege)
      report.notices.push_back(
          "G5: the CRM user lacks the Sync to Outlook privilege (prvSyncToOutlook): contacts, "
          "tasks, appointments, phone calls, letters and faxes are not brought from CRM; "
          "tracking from the mailbox still works");
  }

  CycleReport run(const CycleOptions& options) {
    report = CycleReport{};
    report.started = clock.now();
    allow_mass_delete = options.allow_mass_delete;
    role = options.role.value_or(settings.role);
    may_act = options.may_act_as_primary;
    only.reset();
    if (options.only_items) only.emplace(options.only_items->begin(), options.only_items->end());
    sync_privilege = true;
    creates.clear();
    store_creates.clear();
    page = PageReadAhead{};
    read_ahead.clear();  // what an aborted cycle read is stale now
    linked_ahead.clear();
    try {
      identify();
      step("prepare", 0, 0);
      prepare_crm();
      prepare_store();
      guard_mass_deletes();
      crm_to_store_step();
      store_to_crm_step();
      if (!only) {
        post();
        reconcile();
      }
    } catch (CycleAbort& abort) {
      // What the open batch holds is finished work: keep it.
      (void)cache.commit_batch();
      report.result = CycleResult::kFailed;
      report.failure = abort.error;
    } catch (...) {
      cache.rollback_batch();  // as a killed process would lose it; the cache stays usable
      throw;
    }
    if (report.result != CycleResult::kFailed) {
      if (report.held_deletions > 0)
        report.result = CycleResult::kMassDeleteHeld;
      else if (report.item_errors > 0)
        report.result = CycleResult::kItemErrors;
    }
    report.finished = clock.now();
    return report;
  }
};

Engine::Engine(Cache& cache, StoreAdapter& store, CrmAdapter& crm, Clock& clock,
               EngineSettings settings, CrashPoints* crash_points)
    : impl_(std::make_unique<Impl>(cache, store, crm, clock, std::move(settings), crash_points)) {}
Engine::~Engine() = default;

CycleReport Engine::run_cycle(const CycleOptions& options) {
  return impl_->run(options);
}
void Engine::on_progress(std::function<void(const Progress&)> sink) {
  impl_->progress = std::move(sink);
}
const EngineSettings& Engine::settings() const {
  return impl_->settings;
}
void Engine::set_settings(EngineSettings settings) {
  impl_->settings = std::move(settings);
}

}  // namespace crmsync
