// The EWS StoreAdapter (SOAP 1.1 at .../EWS/Exchange.asmx): items read with FindItem and
// batched GetItem, written with CreateItem/UpdateItem (change key, NeverOverwrite) and moved to
// Deleted Items; the change log, the notifications and the hidden items (lease, queue) are
// the parts beside it (change_log, notifications, hidden_items), each over one Caller.
#include <algorithm>
#include <map>

#include "caller.hpp"
#include "change_log.hpp"
#include "crmsync/store_ews/ews_store.hpp"
#include "hidden_items.hpp"
#include "master_categories.hpp"
#include "notifications.hpp"
#include "zone.hpp"

namespace crmsync {
namespace {

using namespace ews;

class EwsStore final : public StoreAdapter {
 public:
  EwsStore(EwsStoreConfig config, std::string zone_id, TrackCategory track, Clock& clock,
           std::unique_ptr<http::Transport> transport, sql::Database db)
      : config_(std::move(config)),
        zone_id_(std::move(zone_id)),
        track_(std::move(track)),
        transport_(std::move(transport)),
        caller_(config_, *transport_),
        log_(caller_, clock, std::move(db), track_),
        notifications_(caller_, log_),
        hidden_(caller_, clock),
        master_(caller_, clock) {}

  // ------------------------------------------------------------ StoreAdapter

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override {
    std::vector<StoreItem> out;
    for (Folder f : folders_of(kind)) {
      std::vector<EntryId> ids;
      CRMSYNC_TRY(find_modified(f, since, false, [&](const RawItem& raw) -> Result<void> {
        ids.emplace_back(raw.ref.id);
        return Ok();
      }));
      for (auto& it : get_many(ids)) {
        if (it.ok()) {
          if (it->item.modified >= since) out.push_back(std::move(*it));
        } else if (!it.error().is(ErrorKind::kNotFound) && !it.error().is(ErrorKind::kInvalid)) {
          return it.error();
        }
        // Gone or not mapped meanwhile, or malformed: get() reports that item (X3).
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const StoreItem& a, const StoreItem& b) {
      return a.item.modified > b.item.modified;
    });
    return out;
  }

  // S2 from FindItem pages alone (id, change key, modification time, tracked flag): the engine
  // reads with GetItem only what is new to it or changed.
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind kind, UtcTime since) override {
    std::vector<StoreItemHeader> out;
    for (Folder f : folders_of(kind))
      CRMSYNC_TRY(find_modified(f, since, true, [&](const RawItem& raw) -> Result<void> {
        auto h = header_of(raw, f);
        if (!h) return h.error().is(ErrorKind::kNotFound) ? Ok() : Result<void>(h.error());
        if (h->modified >= since) out.push_back(std::move(*h));
        return Ok();
      }));
    std::stable_sort(
        out.begin(), out.end(),
        [](const StoreItemHeader& a, const StoreItemHeader& b) { return a.modified > b.modified; });
    return out;
  }

  Result<StoreItem> get(const EntryId& id) override {
    auto msgs = caller_.call("GetItem", get_items({id.str()}, true), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    return store_item_of(m, id);
  }

  // One GetItem per get_batch_size ids; each id's message gives its result as get() would.
  std::vector<Result<StoreItem>> get_many(const std::vector<EntryId>& ids) override {
    std::vector<Result<StoreItem>> out;
    if (ids.empty()) return out;  // no request, not even for the folders
    out.reserve(ids.size());
    if (auto r = resolve_folders(); !r.ok()) {
      for (std::size_t i = 0; i < ids.size(); ++i) out.emplace_back(r.error());
      return out;
    }
    const std::size_t batch = static_cast<std::size_t>(std::max(1, config_.get_batch_size));
    for (std::size_t from = 0; from < ids.size(); from += batch) {
      const std::size_t to = std::min(ids.size(), from + batch);
      std::vector<std::string> chunk;
      for (std::size_t i = from; i < to; ++i) chunk.push_back(ids[i].str());
      auto msgs = caller_.call("GetItem", get_items(chunk, true), true);
      if (msgs && msgs->size() != chunk.size())
        msgs = Error::Invalid("GetItem reply with " + std::to_string(msgs->size()) +
                              " messages for " + std::to_string(chunk.size()) + " ids");
      for (std::size_t i = from; i < to; ++i) {
        if (!msgs) {
          out.emplace_back(msgs.error());
          continue;
        }
        const Message& m = (*msgs)[i - from];
        out.push_back(m.ok() ? store_item_of(m, ids[i]) : Result<StoreItem>(id_error(m, ids[i])));
      }
    }
    return out;
  }

  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& crm) override {
    return std::move(find_by_crm_ids({crm}).front());
  }

  // One FindItem (an Or of the ids over the six folders) per get_batch_size ids, then one
  // GetItem for what it found.
  std::vector<Result<std::optional<StoreItem>>> find_by_crm_ids(
      const std::vector<CrmId>& crm) override {
    std::vector<Result<std::optional<StoreItem>>> out;
    out.reserve(crm.size());
    const std::vector<Folder> folders(std::begin(kAllFolders), std::end(kAllFolders));
    const std::size_t batch = static_cast<std::size_t>(std::max(1, config_.get_batch_size));
    for (std::size_t from = 0; from < crm.size(); from += batch) {
      const std::size_t to = std::min(crm.size(), from + batch);
      std::vector<std::string> texts;
      for (std::size_t i = from; i < to; ++i) texts.push_back(crm[i].str());
      std::map<CrmId, std::vector<EntryId>> candidates;
      auto found = find_candidates(folders, texts, candidates);
      if (!found.ok()) {
        for (std::size_t i = from; i < to; ++i) out.emplace_back(found.error());
        continue;
      }
      std::vector<EntryId> ids;
      for (const auto& [id, items] : candidates) ids.insert(ids.end(), items.begin(), items.end());
      auto got = get_many(ids);
      std::map<EntryId, Result<StoreItem>> by_id;
      for (std::size_t i = 0; i < ids.size(); ++i) by_id.emplace(ids[i], std::move(got[i]));
      for (std::size_t i = from; i < to; ++i) {
        Result<std::optional<StoreItem>> r{std::optional<StoreItem>()};
        for (const auto& item_id : candidates[crm[i]]) {
          const auto& one = by_id.at(item_id);
          if (one.ok()) {
            r = std::optional<StoreItem>(*one);
            break;
          }
          if (!one.error().is(ErrorKind::kNotFound)) {
            r = one.error();
            break;
          }
        }
        out.push_back(std::move(r));
      }
    }
    return out;
  }

  Result<StoreItem> create(const NewStoreItem& n) override {
    return std::move(create_many({n}).front());
  }

  // One CreateItem per folder and batch of get_batch_size items, then one GetItem for what it
  // made. A batch whose reply is lost fails whole and is not repeated: the engine redoes each
  // item, and X1 (find_by_crm_id on the pending link) finds those the server had made.
  std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>& items) override {
    std::vector<Result<StoreItem>> out(items.size(),
                                       Result<StoreItem>(Error::Invalid("not created")));
    std::map<Folder, std::vector<std::size_t>> by_folder;
    for (std::size_t i = 0; i < items.size(); ++i) by_folder[items[i].folder].push_back(i);
    const std::size_t batch = static_cast<std::size_t>(std::max(1, config_.get_batch_size));
    for (const auto& [folder, all] : by_folder)
      for (std::size_t from = 0; from < all.size(); from += batch) {
        std::vector<std::size_t> chunk(
            all.begin() + static_cast<std::ptrdiff_t>(from),
            all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), from + batch)));
        create_batch(folder, items, chunk, out);
      }
    return out;
  }

  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override {
    auto probe = probe_item(id);
    if (!probe) return probe.error();
    auto& [raw, folder] = *probe;
    if (raw.ref.change_key != expected_change_key)
      return Error::Conflict("item " + id.str() + " changed since it was read");
    if (changes.empty() && !link) return raw.ref.change_key;
    // U1: a link written keeps the track category in step with its tracked mark.
    CategoryWrite categories;
    if (link) categories = in_step(category_mark_of(raw), link->tracked);
    auto body = update_item(kind_of_folder(folder), ItemRef{id.str(), expected_change_key}, changes,
                            link, zone_id_, categories);
    if (!body) return body.error();
    if (body->empty()) return raw.ref.change_key;  // only read-only fields (Organizer, Duration)
    auto ref = send_update(id, *body);
    if (!ref) return ref.error();
    CRMSYNC_TRY(log_.record(folder, *ref, Action::kUpdate));
    return ref->change_key;
  }

  Result<void> remove(const EntryId& id) override {
    auto probe = probe_item(id);
    if (!probe) return probe.error();
    auto& [raw, folder] = *probe;
    auto msgs =
        caller_.call("DeleteItem", delete_item(id.str(), kind_of_folder(folder), false), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    return log_.record(folder, ItemRef{id.str(), ""}, Action::kDelete);
  }

  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override {
    CRMSYNC_TRY(log_.sync_all());
    return log_.after(after, max);
  }
  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override {
    return notifications_.wait(after, timeout);
  }

  LeaseStore* lease_store() override { return &hidden_; }
  HandoffQueue* handoff_queue() override { return &hidden_; }

  // SPEC U2 (the port's record_decision): the decision as the explorer's event; a track or an
  // untrack
  // writes the tracked mark and the category first, with the item's change key.
  Result<std::int64_t> record_decision(const StoreEvent& decision) override {
    if (decision.action != Action::kTrack && decision.action != Action::kUntrack &&
        decision.action != Action::kSetRegarding)
      return Error::Invalid("a decision is a track, an untrack or a set regarding, not " +
                            std::string(to_string(decision.action)));
    auto probe = probe_item(decision.entry_id);
    if (!probe) return probe.error();
    auto& [raw, folder] = *probe;
    StoreEvent e;
    e.kind = kind_of_folder(folder);
    e.entry_id = decision.entry_id;
    e.action = decision.action;
    e.surface = Surface::kExplorer;
    e.delete_in_crm = decision.action == Action::kUntrack && decision.delete_in_crm;
    // Set regarding: the caller has written Regarding with update() already.
    if (decision.action == Action::kSetRegarding) return log_.record_event(folder, nullptr, e);
    const bool tracked = decision.action == Action::kTrack;
    auto body = update_mark(e.kind, raw.ref, tracked, in_step(category_mark_of(raw), tracked));
    if (!body) return body.error();
    auto ref = send_update(decision.entry_id, *body);
    if (!ref) return ref.error();
    return log_.record_event(folder, &*ref, e);
  }

 private:
  // The categories of a write of the tracked mark (U1); the master category list gets the
  // track category first when the write adds it to an item (best effort: see ensure()).
  CategoryWrite in_step(const CategoryMark& mark, bool tracked) {
    CategoryWrite w = keep_in_step(track_, mark, tracked);
    if (w.adds_ours) (void)master_.ensure(track_.name());
    return w;
  }

  // One UpdateItem of the item; its new id and change key.
  Result<ItemRef> send_update(const EntryId& id, const std::string& body) {
    auto msgs = caller_.call("UpdateItem", body, true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    auto updated = items_in(m, "UpdateItem");
    if (!updated) return updated.error();
    if (updated->size() != 1 || updated->front().ref.change_key.empty())
      return Error::Invalid("UpdateItem reply without the new ChangeKey");
    return ItemRef{id.str(), updated->front().ref.change_key};
  }

  // ------------------------------------------------------------ items

  Error id_error(const Message& m, const EntryId& id) {
    if (m.code == "ErrorInvalidIdMalformed" || m.code == "ErrorInvalidIdNotAnItemAttachmentId")
      return Error::NotFound("item " + id.str() + ": " + m.code);
    return error_of(m).context("item " + id.str());
  }

  Result<void> resolve_folders() {
    if (!folder_ids_.empty()) return Ok();
    std::vector<std::string_view> names;
    for (Folder f : kAllFolders) names.push_back(distinguished_id(f));
    auto msgs = caller_.call("GetFolder", get_folders(names), true);
    if (!msgs) return msgs.error();
    if (msgs->size() != names.size())
      return Error::Invalid("GetFolder: one reply per folder expected");
    std::map<std::string, Folder> ids;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const Message& m = (*msgs)[i];
      if (!m.ok()) return error_of(m).context("folder " + std::string(names[i]));
      auto id = folder_id_of(m);
      if (!id) return id.error();
      ids[*id] = kAllFolders[i];
    }
    folder_ids_ = std::move(ids);
    return Ok();
  }

  std::function<std::optional<Folder>(const std::string&)> folder_lookup() {
    return [this](const std::string& id) -> std::optional<Folder> {
      auto it = folder_ids_.find(id);
      if (it == folder_ids_.end()) return std::nullopt;
      return it->second;
    };
  }

  Result<StoreItem> store_item_of(const Message& m, const EntryId& id) {
    CRMSYNC_TRY(resolve_folders());
    auto raw = one_item_in(m, "GetItem");
    if (!raw) return raw.error();
    if (raw->ref.id != id.str()) return Error::Invalid("GetItem reply for another item");
    return to_store_item(*raw, folder_lookup());
  }

  // create_many's one request: the items at `indexes` (all for `folder`) into `out`.
  void create_batch(Folder folder, const std::vector<NewStoreItem>& items,
                    const std::vector<std::size_t>& indexes, std::vector<Result<StoreItem>>& out) {
    std::vector<std::size_t> sent;
    std::vector<std::string> elements;
    for (std::size_t i : indexes) {
      auto el = item_element(items[i], zone_id_, in_step({}, items[i].link.tracked));
      if (!el) {
        out[i] = el.error();
        continue;
      }
      sent.push_back(i);
      elements.push_back(std::move(*el));
    }
    if (sent.empty()) return;
    auto msgs = caller_.call("CreateItem", create_items(folder, elements), false);
    if (!msgs || msgs->size() != sent.size()) {
      Error e = msgs ? Error::Invalid("CreateItem reply with " + std::to_string(msgs->size()) +
                                      " messages for " + std::to_string(sent.size()) + " items")
                     : msgs.error();
      for (std::size_t i : sent) out[i] = e.context("create");
      return;
    }
    std::vector<std::pair<std::size_t, ItemRef>> made;
    for (std::size_t k = 0; k < sent.size(); ++k) {
      const Message& m = (*msgs)[k];
      auto ref = created_ref(m, "create");
      if (!ref) {
        out[sent[k]] = ref.error();
        continue;
      }
      if (auto r = log_.record(folder, *ref, Action::kCreate); !r.ok()) {
        out[sent[k]] = r.error();
        continue;
      }
      made.emplace_back(sent[k], std::move(*ref));
    }
    std::vector<EntryId> ids;
    for (const auto& [i, ref] : made) ids.emplace_back(ref.id);
    auto got = get_many(ids);
    for (std::size_t k = 0; k < made.size(); ++k) {
      const auto& [i, ref] = made[k];
      out[i] = std::move(got[k]);
      if (out[i].ok() && out[i]->change_key != ref.change_key)
        if (auto r = log_.remember(folder, ref.id, out[i]->change_key); !r.ok()) out[i] = r.error();
    }
  }

  // The paged FindItem of a folder's items modified at or after `since`, newest first, each
  // listed item given to `each`.
  Result<void> find_modified(Folder f, UtcTime since, bool headers,
                             const std::function<Result<void>(const RawItem&)>& each) {
    for (int offset = 0;;) {
      auto msgs = caller_.call(
          "FindItem", ews::find_modified(f, since, offset, config_.page_size, headers), true);
      if (!msgs) return msgs.error();
      const Message& m = msgs->front();
      if (!m.ok()) return error_of(m).context("scan " + std::string(to_string(f)));
      auto page = find_page_of(m);
      if (!page) return page.error();
      for (const auto& it : page->items) CRMSYNC_TRY(each(it));
      offset += static_cast<int>(page->items.size());
      if (page->last || page->items.empty()) return Ok();
    }
  }

  // The items (by entry id) that carry each of `crm_ids`, from FindItem.
  Result<void> find_candidates(const std::vector<Folder>& folders,
                               const std::vector<std::string>& crm_ids,
                               std::map<CrmId, std::vector<EntryId>>& candidates) {
    auto msgs = caller_.call("FindItem", ews::find_by_crm_ids(folders, crm_ids), true);
    if (!msgs) return msgs.error();
    for (const Message& m : *msgs) {
      if (!m.ok()) return error_of(m).context("find by CRM id");
      auto page = find_page_of(m);
      if (!page) return page.error();
      for (const auto& raw : page->items)
        if (auto id = CrmId::parse(crm_id_of(raw)); id.ok())
          candidates[*id].push_back(EntryId(raw.ref.id));
    }
    return Ok();
  }

  // Id, change key and synced folder of an item (kNotFound when it is not in one).
  Result<std::pair<RawItem, Folder>> probe_item(const EntryId& id) {
    CRMSYNC_TRY(resolve_folders());
    auto msgs = caller_.call("GetItem", get_items({id.str()}, false), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    auto raw = one_item_in(m, "GetItem");
    if (!raw) return raw.error();
    auto folder = folder_lookup()(raw->parent_folder_id);
    if (!folder || raw->item_class.rfind("IPM.Configuration", 0) == 0)
      return Error::NotFound("item " + id.str() + " is not in a synced folder");
    return std::pair<RawItem, Folder>(std::move(*raw), *folder);
  }

  EwsStoreConfig config_;
  std::string zone_id_;  // the user's zone, Windows id: appointments' StartTimeZone/EndTimeZone
  TrackCategory track_;
  std::unique_ptr<http::Transport> transport_;
  Caller caller_;
  ChangeLog log_;
  Notifications notifications_;
  HiddenItems hidden_;
  MasterCategories master_;
  std::map<std::string, Folder> folder_ids_;
};

}  // namespace

Result<std::unique_ptr<StoreAdapter>> open_ews_store(const EwsStoreConfig& config, Clock& clock,
                                                     std::unique_ptr<http::Transport> transport) {
  auto url = http::Url::parse(config.url);
  if (!url) return Error::Invalid("EWS url: " + url.error().message());
  if (config.state_path.empty()) return Error::Invalid("EWS state_path is required");
  if (config.auth.type == EwsAuth::Type::kBasic &&
      (config.auth.username.empty() || config.auth.password_file.empty()))
    return Error::Invalid("EWS basic auth needs username and password_file");
  if (config.auth.type == EwsAuth::Type::kBearer && config.auth.token_file.empty())
    return Error::Invalid("EWS bearer auth needs token_file");
  if (config.auth.type == EwsAuth::Type::kNegotiate &&
      (config.auth.username.empty() || config.auth.password_file.empty()))
    return Error::Invalid("EWS negotiate auth needs username and password_file");
  if (config.impersonate && config.mailbox.empty())
    return Error::Invalid("EWS impersonation needs the mailbox address");
  if (config.page_size < 1 || config.page_size > 1000)
    return Error::Invalid("EWS page_size: 1..1000");
  if (config.stream_connection_minutes < 1 || config.stream_connection_minutes > 30)
    return Error::Invalid("EWS stream_connection_minutes: 1..30");
  auto zone = ews::windows_zone_id(config.time_zone);
  if (!zone) return zone.error().context("EWS all-day events");
  auto track = TrackCategory::from_config(config.track_category);
  if (!track) return track.error();
  auto db = ews::ChangeLog::open_state(config.state_path);
  if (!db) return db.error();
  return std::unique_ptr<StoreAdapter>(new EwsStore(config, std::move(*zone), std::move(*track),
                                                    clock, std::move(transport), std::move(*db)));
}

Result<std::unique_ptr<StoreAdapter>> open_ews_store(const EwsStoreConfig& config, Clock& clock) {
  http::ClientOptions options;
  options.ca_file = config.ca_file;
  options.connect_timeout = config.connect_timeout;
  options.io_timeout = config.request_timeout;
  options.max_response_bytes = config.max_response_bytes;
  options.user_agent = "crmsync-ews";
  if (config.auth.type == EwsAuth::Type::kNegotiate) {
    // Now rather than at the first request: a missing gss-ntlmssp is a setup error.
    if (auto ok = http::negotiate_available(); !ok) return ok.error().context("EWS negotiate auth");
    auto a = http::make_negotiate_authenticator({config.auth.username, config.auth.password_file});
    if (!a) return a.error().context("EWS negotiate auth");
    options.authenticator = std::move(*a);
  }
  return open_ews_store(config, clock, std::make_unique<http::Client>(options));
}

}  // namespace crmsync
