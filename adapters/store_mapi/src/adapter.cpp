// The MAPI StoreAdapter: the default store of a profile (Mailbox), contents tables for scans
// and look-ups, messages written through the field codec with a change-key check, and the
// parts beside it: the change log over an advise sink (change_log) and the lease and handoff
// queue as associated messages (hidden_items). The conversions live in fields.cpp,
// field_codec.cpp, encoding.cpp and errors.cpp.
#include <algorithm>

#include "change_log.hpp"
#include "errors.hpp"
#include "hidden_items.hpp"
#include "mailbox.hpp"
#include "master_categories.hpp"

namespace crmsync {
namespace {

using namespace mapi;

class MapiStore final : public StoreAdapter {
 public:
  MapiStore(const MapiStoreConfig& config, TrackCategory track, Clock& clock,
            std::unique_ptr<Session> session)
      : track_(std::move(track)),
        session_(std::move(session)),
        mailbox_(*session_, config.profile),
        log_(mailbox_, clock, config.max_events, track_),
        hidden_(*session_, mailbox_, clock),
        master_(mailbox_, clock) {}

  Result<void> open() {
    CRMSYNC_TRY(mailbox_.open());
    return log_.advise();
  }

  // ------------------------------------------------------------ StoreAdapter

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto from = to_filetime(since);
    if (!from) return from.error();
    std::vector<StoreItem> out;
    for (Folder f : kAllFolders) {
      if (kind_of_folder(f) != kind) continue;
      SPropValue bound{};
      bound.ulPropTag = PR_LAST_MODIFICATION_TIME;
      bound.Value.ft = filetime_of(*from);
      SRestriction r = property_restriction(RELOP_GE, bound);
      auto ids = mailbox_.entry_ids(mailbox_.folder(f), 0, &r);
      if (!ids) return ids.error().context("scan " + std::string(to_string(f)));
      for (const Binary& id : *ids) {
        auto item = mailbox_.read(id);
        if (!item) {
          if (item.error().is(ErrorKind::kNotFound)) continue;  // deleted meanwhile
          return item.error();
        }
        if (item->item.kind == kind && item->item.modified >= since)
          out.push_back(std::move(*item));
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const StoreItem& a, const StoreItem& b) {
      return a.item.modified > b.item.modified;
    });
    return out;
  }

  Result<StoreItem> get(const EntryId& id) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto bytes = entry_id_bytes(id.str());
    if (!bytes)
      return Error::NotFound("no item " + id.str().substr(0, 64) + " (" + bytes.error().message() +
                             ")");
    return mailbox_.read(*bytes);
  }

  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& crm) override {
    CRMSYNC_TRY(session_->enter_thread());
    std::u16string value = to_utf16(crm.str()).value();
    SPropValue v{};
    v.ulPropTag = mailbox_.tag_of(PropRef{Named::kCrmId});
    v.Value.lpszW = reinterpret_cast<LPWSTR>(value.data());
    SRestriction r = property_restriction(RELOP_EQ, v);
    for (Folder f : kAllFolders) {
      auto ids = mailbox_.entry_ids(mailbox_.folder(f), 0, &r);
      if (!ids) return ids.error().context("find by CRM id");
      for (const Binary& id : *ids) {
        auto item = mailbox_.read(id);
        if (item) return std::optional<StoreItem>(std::move(*item));
        if (!item.error().is(ErrorKind::kNotFound)) return item.error();
      }
    }
    return std::optional<StoreItem>();
  }

  Result<StoreItem> create(const NewStoreItem& n) override {
    CRMSYNC_TRY(session_->enter_thread());
    if (kind_of_folder(n.folder) != n.item.kind)
      return Error::Invalid("a " + std::string(to_string(n.item.kind)) + " cannot be created in " +
                            std::string(to_string(n.folder)));
    auto enc = encode_fields(n.item.kind, n.item.fields);
    if (!enc) return enc.error();
    auto link = encode_link(n.link);
    if (!link) return link.error();
    auto marks = encode_mark(in_step({}, n.link.tracked));  // U1: tracked carries the category
    if (!marks) return marks.error();
    Com<IMessage> msg;
    if (HRESULT h = mailbox_.folder(n.folder)->CreateMessage(nullptr, 0, msg.out()); FAILED(h))
      return error_of(h, "CreateMessage");
    std::vector<PropWrite> writes = std::move(enc->props);
    writes.insert(writes.end(), link->begin(), link->end());
    keep_categories(writes, *marks);
    writes.push_back({PropRef{tag::kMessageClass}, std::u16string(message_class(n.item.kind))});
    CRMSYNC_TRY(mailbox_.write_props(msg.get(), writes));
    if (!enc->recipients.empty())
      CRMSYNC_TRY(mailbox_.write_recipients(msg.get(), enc->recipients));
    if (HRESULT h = msg->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h))
      return error_of(h, "SaveChanges of a new item");
    auto id = mailbox_.binary_prop(msg.get(), PR_ENTRYID);
    if (!id) return id.error();
    auto item = mailbox_.read(*id);
    if (!item) return item.error();
    log_.log_own(item->item.kind, *id, Action::kCreate, item->change_key);
    return item;
  }

  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto bytes = entry_id_bytes(id.str());
    if (!bytes) return Error::NotFound("no item " + id.str().substr(0, 64));
    auto msg = mailbox_.open_message(*bytes, true);
    if (!msg) return msg.error();
    auto head = mailbox_.head_of(msg->get());
    if (!head) return head.error();
    if (to_hex(head->change_key) != expected_change_key)
      return Error::Conflict("item " + id.str().substr(0, 64) + " changed (change key)");
    auto enc = encode_fields(head->kind, changes);
    if (!enc) return enc.error();
    std::vector<PropWrite> writes = std::move(enc->props);
    if (link) {
      auto l = encode_link(*link);
      if (!l) return l.error();
      writes.insert(writes.end(), l->begin(), l->end());
      // U1: a link written keeps the track category in step with its tracked mark.
      auto mark = mailbox_.mark_of(msg->get());
      if (!mark) return mark.error();
      auto marks = encode_mark(in_step(*mark, link->tracked));
      if (!marks) return marks.error();
      keep_categories(writes, *marks);
    }
    CRMSYNC_TRY(mailbox_.write_props(msg->get(), writes));
    if (!enc->recipients.empty())
      CRMSYNC_TRY(mailbox_.write_recipients(msg->get(), enc->recipients));
    // The store refuses the save when another writer saved since we opened the message: the
    // change-key check above and this make the update a compare-and-swap.
    if (HRESULT h = (*msg)->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h)) {
      Error e = error_of(h, "SaveChanges");
      return e.is(ErrorKind::kNotFound) ? Error::NotFound("item " + id.str().substr(0, 64)) : e;
    }
    auto ck = mailbox_.binary_prop(msg->get(), tag::kChangeKey);
    if (!ck) return ck.error();
    log_.log_own(head->kind, *bytes, Action::kUpdate, to_hex(*ck));
    return to_hex(*ck);
  }

  Result<void> remove(const EntryId& id) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto bytes = entry_id_bytes(id.str());
    if (!bytes) return Error::NotFound("no item " + id.str().substr(0, 64));
    auto msg = mailbox_.open_message(*bytes, false);
    if (!msg) return msg.error();
    auto head = mailbox_.head_of(msg->get());
    if (!head) return head.error();
    msg->reset();
    // Like Outlook's delete (and the EWS adapter's): the item moves to Deleted Items.
    SBinary one = sbinary(*bytes);
    ENTRYLIST list{1, &one};
    HRESULT h =
        mailbox_.folder(head->folder)
            ->CopyMessages(&list, nullptr, mailbox_.wastebasket(), 0, nullptr, kMessageMove);
    if (FAILED(h)) return error_of(h, "move to Deleted Items");
    log_.log_own(head->kind, *bytes, Action::kDelete, {});
    return Ok();
  }

  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override {
    CRMSYNC_TRY(session_->enter_thread());
    return log_.after(after, max);
  }

  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override {
    return log_.wait(after, timeout);
  }

  LeaseStore* lease_store() override { return &hidden_; }
  HandoffQueue* handoff_queue() override { return &hidden_; }

  // SPEC U2 (the port's record_decision): a track or an untrack writes the tracked mark and the
  // category,
  // then the decision is logged as the explorer's event; a set-regarding is only logged.
  Result<std::int64_t> record_decision(const StoreEvent& decision) override {
    CRMSYNC_TRY(session_->enter_thread());
    if (decision.action != Action::kTrack && decision.action != Action::kUntrack &&
        decision.action != Action::kSetRegarding)
      return Error::Invalid("a decision is a track, an untrack or a set regarding, not " +
                            std::string(to_string(decision.action)));
    auto bytes = entry_id_bytes(decision.entry_id.str());
    if (!bytes) return Error::NotFound("no item " + decision.entry_id.str().substr(0, 64));
    auto msg = mailbox_.open_message(*bytes, false);
    if (!msg) return msg.error();
    auto head = mailbox_.head_of(msg->get());
    if (!head) return head.error();
    StoreEvent e = decision;
    e.kind = head->kind;
    e.delete_in_crm = decision.action == Action::kUntrack && decision.delete_in_crm;
    if (decision.action == Action::kSetRegarding) return log_.log_decision(e, *bytes, {});
    auto mark = mailbox_.mark_of(msg->get());
    if (!mark) return mark.error();
    msg->reset();
    const bool tracked = decision.action == Action::kTrack;
    auto ck =
        mailbox_.write_mark(*bytes, to_hex(head->change_key), tracked, in_step(*mark, tracked));
    if (!ck) return ck.error();
    return log_.log_decision(e, *bytes, *ck);
  }

 private:
  // The categories of a write of the tracked mark (U1); the master category list gets the
  // track category first when the write adds it to an item (best effort).
  CategoryWrite in_step(const CategoryMark& mark, bool tracked) {
    CategoryWrite w = crmsync::keep_in_step(track_, mark, tracked);
    if (w.adds_ours) (void)master_.ensure(track_.name());
    return w;
  }

  // `marks` into `writes`; a category list of its own replaces the Categories field's.
  static void keep_categories(std::vector<PropWrite>& writes, const std::vector<PropWrite>& marks) {
    for (const PropWrite& m : marks)
      std::erase_if(writes, [&](const PropWrite& w) { return w.ref == m.ref; });
    writes.insert(writes.end(), marks.begin(), marks.end());
  }

  TrackCategory track_;
  std::unique_ptr<Session> session_;
  Mailbox mailbox_;
  ChangeLog log_;
  HiddenItems hidden_;
  MasterCategories master_;
};

}  // namespace

Result<std::unique_ptr<StoreAdapter>> open_mapi_store(const MapiStoreConfig& config, Clock& clock) {
  if (config.max_events == 0) return Error::Invalid("store.max_events must be positive");
  auto track = TrackCategory::from_config(config.track_category);
  if (!track) return track.error();
  auto session = Session::logon(config);
  if (!session) return session.error();
  auto store = std::make_unique<MapiStore>(config, std::move(*track), clock, std::move(*session));
  if (auto r = store->open(); !r) return r.error().context("MAPI profile '" + config.profile + "'");
  return std::unique_ptr<StoreAdapter>(std::move(store));
}

}  // namespace crmsync
