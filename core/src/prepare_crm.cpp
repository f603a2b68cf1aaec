// Step 1, the CRM side: who the user is (G5), and what changed in CRM noted in the cache as
// change rows (R1 change tracking, R3 without it, U4 the user's filters, C5 our own writes).
#include <algorithm>

#include "cycle_context.hpp"

namespace crmsync::cycle {
namespace {

class PrepareCrm {
 public:
  explicit PrepareCrm(Cycle& c) : c(c) {}

  void run() {
    if (c.only || !c.primary_like()) return;  // P3: only the primary writes CRM -> store
    // U4: the user's Outlook filters, read once a cycle (one request).
    const std::vector<SyncFilter> filters =
        c.settings.user_filters ? c.must(c.crm.sync_filters()) : std::vector<SyncFilter>{};
    for (CrmEntity entity : kAllCrmEntities) {
      if (!c.crm_to_store_on(entity)) continue;
      std::vector<SyncFilter> mine;
      for (const auto& f : filters)
        if (f.entity == entity) mine.push_back(f);
      if (!mine.empty())
        filtered(entity, mine);
      else if (!c.crm.supports_change_tracking(entity))
        without_tracking(entity);
      else
        tracked(entity);
    }
  }

 private:
  Cycle& c;

  // R1: the changes since the entity's token, a page at a time.
  void tracked(CrmEntity entity) {
    std::string token = c.must(c.cache.get_meta(token_key(entity))).value_or("");
    int page = 1;
    std::string cookie;
    std::set<CrmId> listed;  // a full fetch's records
    for (;;) {
      auto fetched = c.crm.changes_since(entity, token, page, cookie);
      if (!fetched.ok() && fetched.error().is(ErrorKind::kConflict) && !token.empty()) {
        // The token expired (CRM keeps change history for a limited time): start over
        // with a full fetch. Unchanged records match their original state: no writes.
        token.clear();
        page = 1;
        cookie.clear();
        continue;
      }
      CrmChangePage p = c.must(std::move(fetched));
      c.batch();
      for (const auto& rec : p.new_or_updated) {
        if (token.empty()) listed.insert(rec.id);
        note_upsert(rec);
      }
      for (const auto& id : p.removed) note_removed(id);
      if (!p.more) {
        if (token.empty()) note_unlisted(entity, listed);
        c.set_pending(token_key(entity), p.data_version);
      }
      c.commit();
      c.step("prepare", page, 0);
      if (!p.more) break;
      ++page;
      cookie = p.paging_cookie;
    }
    c.crash("prepare.crm");
  }

  // U4: the user's filters pick the records (R2 as the user set it up). The first sync fetches
  // what they select, not the organization; later ones what changed since (modifiedon, with
  // the S2-like margin) and the ids the filters select (a request per page of the user's
  // records, whatever the organization's size): a mapped record they no longer select is
  // looked up - gone (deleted in CRM, D6-D9 at the next sync) or still there (it left the
  // filters; records the user tracked by hand stay).
  void filtered(CrmEntity entity, const std::vector<SyncFilter>& filters) {
    // The watermark "ms:id@version,...": a floor on modifiedon and the records seen at or
    // after it in their row versions. The floor trails the newest modifiedon seen by a margin,
    // because a stamp is no promise of order: a transaction commits after a later one
    // stamped earlier, and a server may step a stamp ahead to keep it moving. The records in
    // that margin come back on every fetch and are skipped when their version is the one
    // seen (versionnumber, read as a column); a CRM that gives no version gets them noted
    // again, which merges to no write.
    const std::string mark = c.must(c.cache.get_meta(modified_key(entity))).value_or("0");
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
    const std::int64_t margin = c.settings.crm_watermark_margin.count();
    std::int64_t newest = wm == 0 ? 0 : wm + margin;
    std::map<std::string, std::int64_t> recent;  // id@version -> modifiedon, for the next mark
    std::set<CrmId> listed;                      // what the filters select now
    auto each = [&](const SyncFilter& filter, bool ids_only, const auto& on_record) {
      std::string cookie;
      for (int page = 1;; ++page) {
        CrmRecordPage p =
            c.must(c.crm.filtered(filter, ids_only ? std::nullopt : since, ids_only, page, cookie));
        c.batch();
        for (const auto& rec : p.records) on_record(rec);
        c.commit();
        c.step("prepare", page, 0);
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
        if (listed.insert(rec.id).second && !seen) note_upsert(rec, /*in_filter=*/true);
      });
      if (since)  // the first sync listed everything already
        each(filter, true, [&](const CrmRecord& rec) { listed.insert(rec.id); });
    }
    const std::int64_t floor = newest == 0 ? 0 : std::max<std::int64_t>(newest - margin, 1);
    std::string next = std::to_string(floor) + ":";
    for (const auto& [version, modified] : recent)
      if (modified >= floor) next += (next.back() == ':' ? "" : ",") + version;
    c.set_pending(modified_key(entity), next);
    c.batch();
    for (const auto& m : c.must(c.cache.mappings(entity))) {
      if (m.create_pending || (!m.linked && !m.deleted_locally) || listed.count(m.crm_id)) continue;
      auto rec = c.crm.retrieve(entity, m.crm_id);
      if (!rec.ok() && rec.error().is(ErrorKind::kNotFound)) {
        note_removed(m.crm_id);
        continue;
      }
      if (!rec.ok()) throw Abort{rec.error()};
      note_upsert(*rec, /*in_filter=*/false);  // still in CRM: it left the filters
    }
    c.commit();
    c.crash("prepare.sweep");
  }

  // R3: without change tracking, modifiedon finds creates and updates, and a periodic sweep
  // of the ids finds deletions and records that left the filter.
  void without_tracking(CrmEntity entity) {
    const std::int64_t wm =
        std::stoll(c.must(c.cache.get_meta(modified_key(entity))).value_or("0"));
    const UtcTime since = scan_from(wm, c.settings.scan_margin);
    std::int64_t newest = wm;
    std::string cookie;
    for (int page = 1;; ++page) {
      CrmRecordPage p = c.must(c.crm.modified_since(entity, since, page, cookie));
      c.batch();
      for (const auto& rec : p.records) {
        newest = std::max(newest, rec.modified_on.ms);
        note_upsert(rec);
      }
      c.commit();
      c.step("prepare", page, 0);
      if (!p.more) break;
      cookie = p.paging_cookie;
    }
    c.set_pending(modified_key(entity), std::to_string(newest));
    const std::int64_t last_sweep =
        std::stoll(c.must(c.cache.get_meta(sweep_key(entity))).value_or("0"));
    // The first cycle sweeps; later ones once per interval (not every cycle: a no-op writes
    // nothing).
    if (last_sweep != 0 && c.clock.now().ms - last_sweep < c.settings.crm_sweep_interval.count())
      return;
    std::set<CrmId> present;
    cookie.clear();
    for (int page = 1;; ++page) {
      CrmRecordPage p = c.must(c.crm.sweep_ids(entity, page, cookie));
      c.batch();
      for (const auto& rec : p.records) {
        present.insert(rec.id);
        if (c.in_filter(rec)) continue;
        auto m = c.must(c.cache.mapping_by_crm_id(rec.id));
        if (!m || m->manually_tracked) continue;
        ChangeNote note;
        note.crm = CrmChange::kLeftFilter;
        note.crm_timestamp = c.clock.now();
        if (m->deleted_locally)
          c.must(c.cache.forget_mapping(m->map_id));
        else if (m->linked)
          c.must(c.cache.note_change(m->map_id, note));
      }
      c.commit();
      if (!p.more) break;
      cookie = p.paging_cookie;
    }
    c.batch();
    for (const auto& m : c.must(c.cache.mappings(entity))) {
      if ((!m.linked && !m.deleted_locally) || present.count(m.crm_id)) continue;
      note_removed(m.crm_id);
    }
    c.must(c.cache.set_meta({{pending(sweep_key(entity)), std::to_string(c.clock.now().ms)}}));
    c.commit();
    c.crash("prepare.sweep");
  }

  // `in_filter_of_user`: what the user's own filters said (U4); R2's fixed test when not given.
  void note_upsert(const CrmRecord& rec, std::optional<bool> in_filter_of_user = {}) {
    auto m = c.must(c.cache.mapping_by_crm_id(rec.id));
    const bool in = in_filter_of_user.value_or(c.in_filter(rec));
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
      c.must(c.cache.insert_mapping(fresh, note));
      return;
    }
    if (m->deleted_locally) {
      // D1: not brought back; leaving the filter forgets it, so re-entering brings it back.
      if (!in) c.must(c.cache.forget_mapping(m->map_id));
      return;
    }
    if (!in && !m->manually_tracked) {
      note.crm = CrmChange::kLeftFilter;
      note.crm_record.reset();
      c.must(c.cache.note_change(m->map_id, note));
      return;
    }
    // C5: our own writes come back as changes; only a different mapped value is news.
    if (m->linked && m->original) {
      auto conv = crm_to_store(rec.entity, rec.attributes, c.ctx());
      if (conv.ok() && same_fields(syncable_fields(rec.entity, *conv, true),
                                   syncable_fields(rec.entity, *m->original, true))) {
        auto state = int_attr(rec.attributes, "statecode");
        if (m->owner != rec.owner || (state && m->crm_state != state)) {
          m->owner = rec.owner;
          if (state) m->crm_state = state;
          c.must(c.cache.save_mapping(*m));
        }
        return;
      }
      if (conv.ok()) c.keep_mapped(rec, std::move(*conv));  // news: the apply step maps it no more
    }
    c.must(c.cache.note_change(m->map_id, note));
  }

  // A full fetch lists what exists and names no deletion: a record mapped from CRM that it
  // does not list is gone. This happens after a crash before the first token was committed
  // (the mappings of that cycle stay) and after an expired token. Store items whose create
  // has not reached CRM yet (X1) are not CRM's to report.
  void note_unlisted(CrmEntity entity, const std::set<CrmId>& listed) {
    for (const auto& m : c.must(c.cache.mappings(entity)))
      if (!m.create_pending && !listed.count(m.crm_id)) note_removed(m.crm_id);
  }

  void note_removed(const CrmId& id) {
    auto m = c.must(c.cache.mapping_by_crm_id(id));
    if (!m) return;
    ChangeNote note;
    note.crm = CrmChange::kDelete;
    note.crm_timestamp = c.clock.now();
    c.must(c.cache.note_change(m->map_id, note));
  }
};

}  // namespace

void identify(Cycle& c) {
  auto cached_user = c.must(c.cache.get_meta(std::string(kUserKey)));
  if (c.only && cached_user) {
    if (auto id = CrmId::parse(*cached_user); id.ok()) {
      c.me = *id;
      return;
    }
  }
  c.me = c.must(c.crm.who_am_i()).user_id;
  if (!cached_user || *cached_user != c.me.str())
    c.must(c.cache.set_meta({{std::string(kUserKey), c.me.str()}}));
  if (c.only) return;
  c.sync_privilege = c.must(c.crm.privileges(c.me)).sync_to_outlook;
  if (!c.sync_privilege)
    c.report.notices.push_back(
        "G5: the CRM user lacks the Sync to Outlook privilege (prvSyncToOutlook): contacts, "
        "tasks, appointments, phone calls, letters and faxes are not brought from CRM; "
        "tracking from the mailbox still works");
}

void prepare_crm(Cycle& c) {
  PrepareCrm(c).run();
}

}  // namespace crmsync::cycle
