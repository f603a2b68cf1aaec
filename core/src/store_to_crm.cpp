// Step 3: the store's changes applied to CRM, a page of change rows at a time. A new tracked
// item becomes a CRM record with the id stamped on it first (X1), or links to the one contact
// with its address (E2); the page's creates go in one ExecuteMultiple; a changed item is merged
// (merge_write.cpp); a deleted or untracked one goes by D1-D5, D11 (deletions.cpp).
#include "crmsync/model/text.hpp"
#include "cycle_context.hpp"
#include "email_parties.hpp"

namespace crmsync::cycle {
namespace {

void group_by_address(const std::vector<CrmRecord>& records, const std::set<std::string>& wanted,
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

class StoreToCrm {
 public:
  explicit StoreToCrm(Cycle& c) : c(c) {}

  void run() {
    c.for_each_pending(
        "store-to-crm",
        [&](const PendingChange& row, Mapping& m) {
          if (row.store_change == StoreChange::kNone) return;
          Result<void> r;
          switch (row.store_change) {
            case StoreChange::kCreate:
              r = apply_create(row, m);
              break;
            case StoreChange::kUpdate:
              r = m.linked ? apply_update(row, m) : apply_create(row, m);
              break;
            case StoreChange::kDelete:
            case StoreChange::kUntrack:
            case StoreChange::kUntrackDeleteInCrm:
              r = apply_store_removal(c, row, m, row.store_change);
              break;
            case StoreChange::kNone:
              break;
          }
          if (!r.ok()) c.item_failed(row, r.error());
        },
        [&](const std::vector<PendingChange>& rows) { read_ahead_new_items(rows); },
        [&] { send_creates(); });
  }

 private:
  Cycle& c;

  // What a page of rows needs from both sides, fetched once for the page.
  struct PageReadAhead {
    std::map<EntryId, StoreItem> items;  // new contacts and e-mails, read for their addresses
    std::set<std::string> looked_up;     // lower-cased addresses asked for (E2)
    std::map<std::string, std::vector<CrmRecord>> matches;  // address -> CRM contacts
    EmailParties parties;                                   // U7
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
      if (row.held || row.next_attempt > c.clock.now()) continue;
      auto m = c.must(c.cache.mapping(row.map_id));
      if (!m || m->linked) continue;
      if (m->entity != CrmEntity::kContact && m->entity != CrmEntity::kEmail) continue;
      if (!c.wanted(m->entry_id)) continue;
      ids.push_back(m->entry_id);
    }
    auto items = c.read_all(ids);
    std::vector<std::string> addresses;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto& item = items[i];
      if (!item.ok()) continue;  // the row's own step reads it again and decides
      if (item->item.kind == ItemKind::kEmail) {
        if (classify(item->item.kind, item->folder) != ItemClass::kDraftMail)
          page.parties.want(*item);
      } else {
        std::string email = ascii_lower(item->item.text("Email1Address"));
        if (!email.empty() && !item->link.crm_id_pending && page.looked_up.insert(email).second)
          addresses.push_back(email);
      }
      page.items.emplace(ids[i], std::move(*item));
    }
    page.parties.ask(c.crm);
    if (addresses.empty()) return;
    auto found = c.crm.find_contacts_by_emails(addresses);
    if (!found.ok()) {  // each row asks again and handles the failure as its own (E1, E3)
      page.looked_up.clear();
      return;
    }
    group_by_address(*found, page.looked_up, page.matches);
  }

  // The CRM contacts with this address (E2): from the page's lookup, or asked now.
  Result<std::vector<CrmRecord>> contacts_with_email(const std::string& email) {
    std::string key = ascii_lower(email);
    if (!page.looked_up.count(key)) {
      auto found = c.crm.find_contacts_by_emails({email});
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
    c.check_lease();
    std::vector<CrmOperation> ops;
    ops.reserve(todo.size());
    for (const auto& pc : todo)
      ops.push_back(CrmOperation{CrmOperation::Type::kCreate, pc.m.entity, pc.m.crm_id,
                                 pc.attributes, 0, -1});
    auto results = c.crm.execute_batch(ops);
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
      c.batch_item_failed(todo[i].row, e, stop);
    }
    if (stop) throw Abort{*stop};
  }

  Result<void> finish_create(PendingCreate& pc) {
    c.crash("store-to-crm.created");
    Mapping& m = pc.m;
    auto key = c.store.update(pc.item.entry_id, pc.item.change_key, {}, c.tracked_link(m));
    if (!key.ok()) return key.error();
    m.linked = true;
    m.create_pending = false;
    m.original = syncable_fields(m.entity, pc.item.item.fields, false);
    m.store_change_key = *key;
    m.owner = c.me;
    m.crm_state = int_attr(pc.attributes, "statecode").value_or(0);
    m.verified_time = c.clock.now();
    ++c.report.to_crm;
    c.count(m.entity, "store-to-crm");
    return c.cache.commit_applied(m, pc.row.change_id, {});
  }

  Result<void> apply_create(const PendingChange& row, Mapping& m) {
    StoreItem item;
    if (auto ahead = page.items.find(m.entry_id); ahead != page.items.end()) {
      item = std::move(ahead->second);  // read at the start of this page
      page.items.erase(ahead);
    } else {
      auto got = c.store.get(m.entry_id);
      if (!got.ok()) {
        if (!got.error().is(ErrorKind::kNotFound)) return got.error();
        return c.cache.forget_mapping(m.map_id);  // deleted before it reached CRM
      }
      item = std::move(*got);
    }
    if (!item.link.tracked || classify(item.item.kind, item.folder) == ItemClass::kDraftMail)
      return c.cache.forget_mapping(m.map_id);  // untracked again, or a draft (T3)

    // E2: a contact with exactly one CRM match by e-mail is linked, not created twice.
    if (m.entity == CrmEntity::kContact && !item.link.crm_id_pending) {
      std::string email = item.item.text("Email1Address");
      if (!email.empty()) {
        auto found = contacts_with_email(email);
        if (!found.ok()) return found.error();
        if (found->size() == 1 && !c.must(c.cache.mapping_by_crm_id(found->front().id))) {
          const CrmRecord& rec = found->front();
          auto conv = crm_to_store(rec.entity, rec.attributes, c.ctx());
          if (!conv.ok()) return conv.error();
          m.crm_id = rec.id;
          m.create_pending = false;
          MergeInput in{m.entity, &item.item.fields, item.item.modified,
                        &*conv,   rec.modified_on,   nullptr};
          c.report.notices.push_back("E2: contact " + item.entry_id.str() +
                                     " linked to the existing CRM contact " + rec.id.str() +
                                     " with the same e-mail address " + email);
          return write_merge(c, row, m, item, rec, in, c.tracked_link(m));
        }
      }
    }

    // A record with this id can exist only if an earlier attempt (ours or another client's)
    // stamped the id on the item first; an item that carried no id has none in CRM.
    const bool maybe_in_crm = item.link.crm_id.has_value();
    // X1: intent first: the chosen id is on the item and in the cache before CRM sees it.
    if (item.link.crm_id != m.crm_id || !item.link.crm_id_pending) {
      CrmLink link = c.tracked_link(m);
      link.crm_id_pending = true;
      auto key = c.store.update(item.entry_id, item.change_key, {}, link);
      if (!key.ok()) return key.error();
      item.change_key = *key;
      item.link = link;
      m.store_change_key = *key;
      m.create_pending = true;
      CRMSYNC_TRY(c.cache.save_mapping(m));
      c.crash("store-to-crm.intent");
    }
    if (maybe_in_crm) {
      auto existing = c.crm.retrieve(m.entity, m.crm_id);
      if (existing.ok()) {  // created by an earlier attempt or another client: link to it
        if (m.entity == CrmEntity::kEmail && is_open_state(m.entity, existing->attributes)) {
          // U7: that attempt stopped between the create and its SetState: complete it now.
          const std::int64_t status = tracked_email_status(item.folder);
          CRMSYNC_TRY(c.crm.set_state(m.entity, m.crm_id, static_cast<int>(kEmailCompleted),
                                      static_cast<int>(status)));
          existing->attributes.insert_or_assign("statecode", Value{kEmailCompleted});
          existing->attributes.insert_or_assign("statuscode", Value{status});
          c.crash("store-to-crm.email-completed");
        }
        auto conv = crm_to_store(m.entity, existing->attributes, c.ctx());
        if (!conv.ok()) return conv.error();
        MergeInput in{m.entity, &item.item.fields,     item.item.modified,
                      &*conv,   existing->modified_on, nullptr};
        return write_merge(c, row, m, item, *existing, in, c.tracked_link(m));
      }
      if (!existing.error().is(ErrorKind::kNotFound)) return existing.error();
    }

    auto attrs = store_to_crm(m.entity, item.item.fields, {}, c.ctx());
    if (!attrs.ok()) return attrs.error().context("store item " + item.entry_id.str());
    if (m.entity == CrmEntity::kEmail) {
      auto completed = page.parties.complete(c, item, *attrs);
      if (!completed.ok()) return completed.error().context("store item " + item.entry_id.str());
    }
    creates.push_back(PendingCreate{row, m, std::move(item), std::move(*attrs)});
    return Ok();  // sent with the page's other creates (send_creates)
  }

  Result<void> apply_update(const PendingChange& row, Mapping& m) {
    auto item = c.store.get(m.entry_id);
    if (!item.ok()) {
      if (!item.error().is(ErrorKind::kNotFound)) return item.error();
      return apply_store_removal(c, row, m, StoreChange::kDelete);
    }
    if (!item->link.tracked) return apply_store_removal(c, row, m, StoreChange::kUntrack);
    auto rec = c.crm.retrieve(m.entity, m.crm_id);
    if (!rec.ok()) {
      if (!rec.error().is(ErrorKind::kNotFound)) return rec.error();
      PendingChange as_deleted = row;
      as_deleted.crm_change = CrmChange::kDelete;
      return apply_crm_removal(c, as_deleted, m);
    }
    auto conv = crm_to_store(m.entity, rec->attributes, c.ctx());
    if (!conv.ok()) return conv.error();
    MergeInput in{m.entity, &item->item.fields, item->item.modified,
                  &*conv,   rec->modified_on,   m.original ? &*m.original : nullptr};
    // G1, G5: with CRM -> store off, only the store's changes go (the retry merges alike).
    return write_merge(c, row, m, *item, *rec, in, std::nullopt,
                       c.crm_to_store_on(m.entity) ? merge_fields : merge_store_changes_only);
  }
};

}  // namespace

void store_to_crm_step(Cycle& c) {
  StoreToCrm(c).run();
}

}  // namespace crmsync::cycle
