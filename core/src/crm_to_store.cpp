// Step 2: CRM's changes applied to the store, a page of change rows at a time. A new record
// becomes a store item carrying its id (X1: looked up first, for the whole page in one call;
// the page's new items made in one create_many); a changed one is merged (merge_write.cpp);
// a deleted one, or one that left the filter, goes by D6-D9 (deletions.cpp).
#include "cycle_context.hpp"

namespace crmsync::cycle {
namespace {

class CrmToStore {
 public:
  explicit CrmToStore(Cycle& c) : c(c) {}

  void run() {
    c.for_each_pending(
        "crm-to-store",
        [&](const PendingChange& row, Mapping& m) {
          if (row.crm_change == CrmChange::kNone) return;
          if (row.store_change == StoreChange::kDelete ||
              row.store_change == StoreChange::kUntrack ||
              row.store_change == StoreChange::kUntrackDeleteInCrm)
            return;  // the store side's removal decides (step 3)
          Result<void> r = row.crm_change == CrmChange::kUpsert ? apply_upsert(row, m)
                                                                : apply_crm_removal(c, row, m);
          if (!r.ok()) c.item_failed(row, r.error());
        },
        [&](const std::vector<PendingChange>& rows) { read_ahead_links(rows); },
        [&] {
          linked_ahead.clear();
          send_store_creates();
        });
  }

 private:
  Cycle& c;

  // A store item to create for a new CRM record, waiting for the page's create_many.
  struct PendingStoreCreate {
    PendingChange row;
    Mapping m;  // with the original state, owner and state it will be recorded with
    NewStoreItem item;
  };
  std::vector<PendingStoreCreate> store_creates;
  // X1 for a whole page: the look-ups of the page's new CRM records.
  std::map<CrmId, Result<std::optional<StoreItem>>> linked_ahead;

  // The page's new store items in one call (one transaction or request); each result
  // finishes or fails its own item. Each item carries its record's id (X1), so a crash
  // before their records are committed is redone by find_by_crm_id.
  void send_store_creates() {
    if (store_creates.empty()) return;
    std::vector<PendingStoreCreate> todo = std::move(store_creates);
    store_creates.clear();
    std::vector<NewStoreItem> items;
    items.reserve(todo.size());
    for (const auto& pc : todo) items.push_back(pc.item);
    auto results = c.store.create_many(items);
    std::optional<Error> stop;
    for (std::size_t i = 0; i < todo.size(); ++i) {
      Result<void> r = i < results.size() ? Result<void>(Ok())
                                          : Result<void>(Error::Internal("create_many: no result"));
      if (r.ok() && !results[i].ok()) r = results[i].error();
      if (r.ok()) {
        c.crash("crm-to-store.created");
        Mapping& m = todo[i].m;
        m.entry_id = results[i]->entry_id;
        m.store_change_key = results[i]->change_key;
        m.linked = true;
        m.verified_time = c.clock.now();
        ++c.report.to_store;
        c.count(m.entity, "crm-to-store");
        r = c.cache.commit_applied(m, todo[i].row.change_id, {});
      }
      if (r.ok()) continue;
      Error e = r.error().context("CRM " + std::string(to_string(todo[i].m.entity)) + " " +
                                  todo[i].m.crm_id.str());
      c.batch_item_failed(todo[i].row, e, stop);
    }
    if (stop) throw Abort{*stop};
  }

  // X1 for a whole page: the look-ups of the page's new CRM records in one call, before its
  // rows (the page's own creates go out at its end, so none is missed).
  void read_ahead_links(const std::vector<PendingChange>& rows) {
    linked_ahead.clear();
    std::vector<CrmId> ids;
    for (const auto& row : rows) {
      if (row.crm_change != CrmChange::kUpsert || !row.crm_record) continue;
      if (row.held || row.next_attempt > c.clock.now()) continue;
      auto m = c.must(c.cache.mapping(row.map_id));
      if (!m || !m->entry_id.empty() || m->deleted_locally) continue;
      if (!c.wanted(m->entry_id)) continue;  // as the rows themselves are skipped
      if (!linked_ahead.count(row.crm_record->id)) {
        ids.push_back(row.crm_record->id);
        linked_ahead.emplace(row.crm_record->id, std::optional<StoreItem>());
      }
    }
    if (ids.empty()) return;
    auto found = c.store.find_by_crm_ids(ids);
    if (found.size() != ids.size())
      throw Abort{Error::Internal("find_by_crm_ids gave " + std::to_string(found.size()) +
                                  " results for " + std::to_string(ids.size()) + " ids")};
    for (std::size_t i = 0; i < ids.size(); ++i) linked_ahead.at(ids[i]) = std::move(found[i]);
  }
  Result<std::optional<StoreItem>> find_linked(const CrmId& id) {
    auto it = linked_ahead.find(id);
    if (it == linked_ahead.end()) return c.store.find_by_crm_id(id);
    auto found = std::move(it->second);
    linked_ahead.erase(it);  // used once: a second row for the record asks again
    return found;
  }

  Result<void> apply_upsert(const PendingChange& row, Mapping& m) {
    if (!row.crm_record) return Error::Internal("change without its CRM record");
    const CrmRecord& rec = *row.crm_record;
    std::optional<FieldMap> mapped = c.take_mapped(rec);  // by prepare's C5 check
    Result<FieldMap> conv = mapped ? Result<FieldMap>(std::move(*mapped))
                                   : crm_to_store(rec.entity, rec.attributes, c.ctx());
    if (!conv.ok())
      return conv.error().context("CRM " + std::string(to_string(rec.entity)) + " " + rec.id.str());
    if (m.entry_id.empty()) {
      if (m.deleted_locally) return c.cache.commit_applied(m, row.change_id, {});
      // X1: the store copy may exist already (a crash after the create): look it up first.
      auto found = find_linked(rec.id);
      if (!found.ok()) return found.error();
      if (*found) {
        FieldMap base = syncable_fields(rec.entity, *conv, true);
        MergeInput in{rec.entity, &(*found)->item.fields, (*found)->item.modified,
                      &*conv,     rec.modified_on,        &base};
        return write_merge(c, row, m, **found, rec, in, std::nullopt);
      }
      NewStoreItem fresh;
      fresh.folder = default_folder(store_kind_of(rec.entity));
      fresh.item.kind = store_kind_of(rec.entity);
      fresh.item.fields = *conv;
      fresh.link = c.tracked_link(m);
      m.original = syncable_fields(rec.entity, *conv, true);
      m.owner = rec.owner;
      m.crm_state = int_attr(rec.attributes, "statecode");
      store_creates.push_back(PendingStoreCreate{row, m, std::move(fresh)});
      return Ok();  // created with the page's other new items (send_store_creates)
    }
    auto item = c.store.get(m.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) return item.error();
      return apply_store_removal(c, row, m, StoreChange::kDelete);  // deleted meanwhile
    }
    if (!item->link.tracked) return apply_store_removal(c, row, m, StoreChange::kUntrack);
    MergeInput in{m.entity, &item->item.fields, item->item.modified,
                  &*conv,   rec.modified_on,    m.linked && m.original ? &*m.original : nullptr};
    return write_merge(c, row, m, *item, rec, in, std::nullopt);
  }
};

}  // namespace

void crm_to_store_step(Cycle& c) {
  CrmToStore(c).run();
}

}  // namespace crmsync::cycle
