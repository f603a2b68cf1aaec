// The MAPI StoreAdapter: the default store of a profile, its default folders, contents tables
// for scans and look-ups, an advise sink for notifications, and the lease and handoff queue as
// associated (FAI) messages in the store's root folder. The conversions live in fields.cpp,
// encoding.cpp and errors.cpp; this file only moves property values in and out of MAPI.
#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <span>

#include "crmsync/core/hidden_text.hpp"
#include "crmsync/core/lease.hpp"
#include "errors.hpp"
#include "fields.hpp"
#include "session.hpp"

namespace crmsync {
namespace {

using namespace mapi;

// Not in the mingw-w64 headers: DeleteMessages' flag ([MS-OXCFOLD], mapidefs.h of the
// Outlook MAPI SDK: DELETE_HARD_DELETE 0x00000010) and CopyMessages' move flag (MESSAGE_MOVE
// 0x00000001).
constexpr ULONG kDeleteHardDelete = 0x00000010;
constexpr ULONG kMessageMove = 0x00000001;
constexpr ULONG kBatch = 100;

Binary binary_of(const SBinary& b) {
  return Binary(b.lpb, b.lpb + b.cb);
}

SBinary sbinary(const Binary& b) {
  return SBinary{static_cast<ULONG>(b.size()), const_cast<LPBYTE>(b.data())};
}

std::int64_t ticks_of(const FILETIME& ft) {
  return static_cast<std::int64_t>((static_cast<std::uint64_t>(ft.dwHighDateTime) << 32) |
                                   ft.dwLowDateTime);
}

FILETIME filetime_of(std::int64_t ticks) {
  const auto u = static_cast<std::uint64_t>(ticks);
  return FILETIME{static_cast<DWORD>(u & 0xFFFFFFFF), static_cast<DWORD>(u >> 32)};
}

std::u16string u16(const wchar_t* s) {
  return s ? std::u16string(reinterpret_cast<const char16_t*>(s)) : std::u16string();
}

// A property value from MAPI (monostate for PT_ERROR and types the adapter does not use).
PropValue from_spv(const SPropValue& v) {
  switch (PROP_TYPE(v.ulPropTag)) {
    case PT_LONG:
      return static_cast<std::int32_t>(v.Value.l);
    case PT_BOOLEAN:
      return v.Value.b != 0;
    case PT_DOUBLE:
      return v.Value.dbl;
    case PT_SYSTIME:
      return FileTime{ticks_of(v.Value.ft)};
    case PT_UNICODE:
      return u16(v.Value.lpszW);
    case PT_MV_UNICODE: {
      std::vector<std::u16string> out;
      for (ULONG i = 0; i < v.Value.MVszW.cValues; ++i) out.push_back(u16(v.Value.MVszW.lppszW[i]));
      return out;
    }
    case PT_BINARY:
      return binary_of(v.Value.bin);
  }
  return {};
}

// SPropValues for SetProps, with the memory their pointers point to.
class PropArray {
 public:
  void add(ULONG tag, const PropValue& v) {
    SPropValue s{};
    s.ulPropTag = tag;
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::int32_t>) {
            s.Value.l = x;
          } else if constexpr (std::is_same_v<T, bool>) {
            s.Value.b = x ? 1 : 0;
          } else if constexpr (std::is_same_v<T, double>) {
            s.Value.dbl = x;
          } else if constexpr (std::is_same_v<T, FileTime>) {
            s.Value.ft = filetime_of(x.ticks);
          } else if constexpr (std::is_same_v<T, std::u16string>) {
            s.Value.lpszW = wide(x);
          } else if constexpr (std::is_same_v<T, std::vector<std::u16string>>) {
            auto& ptrs = lists_.emplace_back();
            for (const auto& e : x) ptrs.push_back(wide(e));
            s.Value.MVszW.cValues = static_cast<ULONG>(ptrs.size());
            s.Value.MVszW.lppszW = ptrs.data();
          } else if constexpr (std::is_same_v<T, Binary>) {
            s.Value.bin = sbinary(binaries_.emplace_back(x));
          }
        },
        v);
    values_.push_back(s);
  }
  ULONG size() const { return static_cast<ULONG>(values_.size()); }
  SPropValue* data() { return values_.data(); }

 private:
  LPWSTR wide(const std::u16string& s) {
    return reinterpret_cast<LPWSTR>(strings_.emplace_back(s).data());
  }
  std::vector<SPropValue> values_;
  std::list<std::u16string> strings_;  // lists: stable addresses
  std::list<std::vector<LPWSTR>> lists_;
  std::list<Binary> binaries_;
};

// A property tag array of any length (SPropTagArray is declared with one element).
class TagArray {
 public:
  explicit TagArray(const std::vector<ULONG>& tags) : raw_(tags.size() + 1) {
    raw_[0] = static_cast<ULONG>(tags.size());
    std::copy(tags.begin(), tags.end(), raw_.begin() + 1);
  }
  SPropTagArray* get() { return reinterpret_cast<SPropTagArray*>(raw_.data()); }

 private:
  std::vector<ULONG> raw_;
};

// One notification as the advise sink saw it, copied out of MAPI's memory.
struct Note {
  ULONG event = 0;
  Binary entry_id, parent_id, old_parent_id;
};

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

constexpr Folder kAllFolders[] = {Folder::kContacts, Folder::kTasks,     Folder::kCalendar,
                                  Folder::kInbox,    Folder::kSentItems, Folder::kDrafts};

// The hidden items' named properties (the EWS adapter's names).
constexpr Named kLeaseProps[] = {Named::kLeaseHolder, Named::kLeaseEpoch, Named::kLeaseExpires};
constexpr Named kQueueProps[] = {Named::kQueueClient, Named::kQueueKind,   Named::kQueueEntryId,
                                 Named::kQueueAction, Named::kQueueDelete, Named::kQueueAt,
                                 Named::kQueueSeq};

struct Hidden {
  Binary entry_id;
  Binary change_key;
  std::map<Named, std::string> props;
  std::string prop(Named n) const {
    auto it = props.find(n);
    return it == props.end() ? std::string() : it->second;
  }
};

class MapiStore final : public StoreAdapter, public LeaseStore, public HandoffQueue {
 public:
  MapiStore(MapiStoreConfig config, Clock& clock, std::unique_ptr<Session> session)
      : config_(std::move(config)), clock_(clock), session_(std::move(session)) {
    next_seq_ = clock_.now().ms * 1000;  // above any seq an earlier run of this client gave
  }

  ~MapiStore() override {
    if (store_ && advise_connection_) store_->Unadvise(advise_connection_);
    for (auto& f : folders_) f.second.folder.reset();
    root_.reset();
    store_.reset();
  }

  Result<void> open() {
    CRMSYNC_TRY(open_default_store());
    CRMSYNC_TRY(resolve_named());
    CRMSYNC_TRY(open_folders());
    auto* sink = new Sink([this](std::vector<Note> notes) {
      std::lock_guard lock(mutex_);
      for (auto& n : notes) notes_.push_back(std::move(n));
      cv_.notify_all();
    });
    HRESULT h = store_->Advise(
        0, nullptr, fnevObjectCreated | fnevObjectModified | fnevObjectDeleted | fnevObjectMoved,
        sink, &advise_connection_);
    sink->Release();  // the store holds it while advised
    if (FAILED(h)) return error_of(h, "IMsgStore::Advise");
    return Ok();
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
      SRestriction r{};
      r.rt = RES_PROPERTY;
      r.res.resProperty.relop = RELOP_GE;
      r.res.resProperty.ulPropTag = PR_LAST_MODIFICATION_TIME;
      r.res.resProperty.lpProp = &bound;
      auto ids = entry_ids(folders_.at(f).folder.get(), 0, &r);
      if (!ids) return ids.error().context("scan " + std::string(to_string(f)));
      for (const Binary& id : *ids) {
        auto item = read(id);
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
    return read(*bytes);
  }

  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& crm) override {
    CRMSYNC_TRY(session_->enter_thread());
    std::u16string value = to_utf16(crm.str()).value();
    SPropValue v{};
    v.ulPropTag = tag_of(PropRef{Named::kCrmId});
    v.Value.lpszW = reinterpret_cast<LPWSTR>(value.data());
    SRestriction r{};
    r.rt = RES_PROPERTY;
    r.res.resProperty.relop = RELOP_EQ;
    r.res.resProperty.ulPropTag = v.ulPropTag;
    r.res.resProperty.lpProp = &v;
    for (Folder f : kAllFolders) {
      auto ids = entry_ids(folders_.at(f).folder.get(), 0, &r);
      if (!ids) return ids.error().context("find by CRM id");
      for (const Binary& id : *ids) {
        auto item = read(id);
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
    Com<IMessage> msg;
    if (HRESULT h = folders_.at(n.folder).folder->CreateMessage(nullptr, 0, msg.out()); FAILED(h))
      return error_of(h, "CreateMessage");
    std::vector<PropWrite> writes = std::move(enc->props);
    writes.insert(writes.end(), link->begin(), link->end());
    writes.push_back({PropRef{tag::kMessageClass}, std::u16string(message_class(n.item.kind))});
    CRMSYNC_TRY(write_props(msg.get(), writes));
    if (!enc->recipients.empty()) CRMSYNC_TRY(write_recipients(msg.get(), enc->recipients));
    if (HRESULT h = msg->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h))
      return error_of(h, "SaveChanges of a new item");
    auto id = binary_prop(msg.get(), PR_ENTRYID);
    if (!id) return id.error();
    auto item = read(*id);
    if (!item) return item.error();
    log_own(item->item.kind, *id, Action::kCreate, item->change_key);
    return item;
  }

  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto bytes = entry_id_bytes(id.str());
    if (!bytes) return Error::NotFound("no item " + id.str().substr(0, 64));
    auto msg = open_message(*bytes, true);
    if (!msg) return msg.error();
    auto head = head_of(msg->get());
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
    }
    CRMSYNC_TRY(write_props(msg->get(), writes));
    if (!enc->recipients.empty()) CRMSYNC_TRY(write_recipients(msg->get(), enc->recipients));
    // The store refuses the save when another writer saved since we opened the message: the
    // change-key check above and this make the update a compare-and-swap.
    if (HRESULT h = (*msg)->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h)) {
      Error e = error_of(h, "SaveChanges");
      return e.is(ErrorKind::kNotFound) ? Error::NotFound("item " + id.str().substr(0, 64)) : e;
    }
    auto ck = binary_prop(msg->get(), tag::kChangeKey);
    if (!ck) return ck.error();
    log_own(head->kind, *bytes, Action::kUpdate, to_hex(*ck));
    return to_hex(*ck);
  }

  Result<void> remove(const EntryId& id) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto bytes = entry_id_bytes(id.str());
    if (!bytes) return Error::NotFound("no item " + id.str().substr(0, 64));
    auto msg = open_message(*bytes, false);
    if (!msg) return msg.error();
    auto head = head_of(msg->get());
    if (!head) return head.error();
    msg->reset();
    // Like Outlook's delete (and the EWS adapter's): the item moves to Deleted Items.
    SBinary one = sbinary(*bytes);
    ENTRYLIST list{1, &one};
    HRESULT h =
        folders_.at(head->folder)
            .folder->CopyMessages(&list, nullptr, wastebasket_.get(), 0, nullptr, kMessageMove);
    if (FAILED(h)) return error_of(h, "move to Deleted Items");
    log_own(head->kind, *bytes, Action::kDelete, {});
    return Ok();
  }

  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override {
    CRMSYNC_TRY(session_->enter_thread());
    CRMSYNC_TRY(absorb_notes());
    std::lock_guard lock(mutex_);
    std::vector<StoreEvent> out;
    for (const StoreEvent& e : events_)
      if (e.seq > after && out.size() < max) out.push_back(e);
    return out;
  }

  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      return !notes_.empty() || (!events_.empty() && events_.back().seq > after);
    });
  }

  // U2: until decisions land in this store (the store helper replaces this line).
  Result<std::int64_t> record_decision(const StoreEvent&) override {
    return Error::Invalid("MAPI store: decisions not supported yet");
  }

  LeaseStore* lease_store() override { return this; }
  HandoffQueue* handoff_queue() override { return this; }

  // ------------------------------------------------------------ LeaseStore

  Result<Versioned> read_lease() override {
    CRMSYNC_TRY(session_->enter_thread());
    auto items = hidden_items(kLeaseClass, kLeaseProps);
    if (!items) return items.error();
    Versioned v;
    if (items->empty()) return v;
    const Hidden& h = items->front();
    v.version = to_hex(h.entry_id) + "|" + to_hex(h.change_key);
    auto record = parse_lease_text(
        {h.prop(Named::kLeaseHolder), h.prop(Named::kLeaseEpoch), h.prop(Named::kLeaseExpires)});
    if (!record) return record.error();
    v.record = std::move(*record);
    return v;
  }

  Result<std::string> write_lease(const std::string& expected_version,
                                  const LeaseRecord& next) override {
    CRMSYNC_TRY(session_->enter_thread());
    const LeaseText text = lease_text(next);
    std::vector<std::pair<Named, std::string>> props = {{Named::kLeaseHolder, text.holder},
                                                        {Named::kLeaseEpoch, text.epoch},
                                                        {Named::kLeaseExpires, text.expires}};
    if (expected_version.empty()) {
      auto existing = hidden_items(kLeaseClass, kLeaseProps);
      if (!existing) return existing.error();
      if (!existing->empty()) return Error::Conflict("a lease item exists already");
      auto made = create_hidden(kLeaseClass, props);
      if (!made) return made.error();
      // MAPI has no create-if-absent either: a creator wins only when, reading after its
      // create, it finds its item alone (as in the EWS adapter).
      auto all = hidden_items(kLeaseClass, kLeaseProps);
      if (!all) return all.error();
      if (all->size() != 1 || all->front().entry_id != made->first) {
        (void)delete_hidden(made->first);
        return Error::Conflict("another client created a lease item at the same time");
      }
      return to_hex(made->first) + "|" + to_hex(made->second);
    }
    auto bar = expected_version.find('|');
    if (bar == std::string::npos) return Error::Invalid("not a lease version: " + expected_version);
    auto id = entry_id_bytes(std::string_view(expected_version).substr(0, bar));
    if (!id) return Error::Invalid("not a lease version: " + id.error().message());
    auto msg = open_message(*id, true);
    if (!msg) {
      if (msg.error().is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
      return msg.error();
    }
    auto ck = binary_prop(msg->get(), tag::kChangeKey);
    if (!ck) return ck.error();
    if (to_hex(*ck) != expected_version.substr(bar + 1))
      return Error::Conflict("the lease changed (change key)");
    CRMSYNC_TRY(write_strings(msg->get(), props));
    if (HRESULT h = (*msg)->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h)) {
      Error e = error_of(h, "SaveChanges of the lease");
      if (e.is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
      return e;
    }
    auto after = binary_prop(msg->get(), tag::kChangeKey);
    if (!after) return after.error();
    return to_hex(*id) + "|" + to_hex(*after);
  }

  // ------------------------------------------------------------ HandoffQueue

  Result<void> enqueue(const QueuedChange& c) override {
    CRMSYNC_TRY(session_->enter_thread());
    const std::int64_t seq = clock_.now().ms * 1000 + (queue_counter_++ % 1000);
    char seq_text[32];
    std::snprintf(seq_text, sizeof seq_text, "%020lld", static_cast<long long>(seq));
    const QueuedText t = queued_text(c);
    auto made = create_hidden(kQueueClass, {{Named::kQueueClient, t.client_id},
                                            {Named::kQueueKind, t.kind},
                                            {Named::kQueueEntryId, t.entry_id},
                                            {Named::kQueueAction, t.action},
                                            {Named::kQueueDelete, t.delete_in_crm},
                                            {Named::kQueueAt, t.at},
                                            {Named::kQueueSeq, seq_text}});
    if (!made) return made.error().context("queued change");
    return Ok();
  }

  Result<std::vector<QueuedChange>> peek(std::size_t max) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto items = hidden_items(kQueueClass, kQueueProps);
    if (!items) return items.error();
    std::vector<QueuedChange> out;
    for (const Hidden& h : *items) {
      if (out.size() >= max) break;
      auto c = parse_queued_text(
          {h.prop(Named::kQueueClient), h.prop(Named::kQueueKind), h.prop(Named::kQueueEntryId),
           h.prop(Named::kQueueAction), h.prop(Named::kQueueDelete), h.prop(Named::kQueueAt)},
          to_hex(h.entry_id));
      if (!c) return c.error();
      out.push_back(std::move(*c));
    }
    return out;
  }

  Result<void> remove(const std::string& id) override {
    CRMSYNC_TRY(session_->enter_thread());
    auto bytes = entry_id_bytes(id);
    if (!bytes) return Error::NotFound("queue entry " + id.substr(0, 64));
    return delete_hidden(*bytes);
  }

  Result<std::int64_t> depth() override {
    CRMSYNC_TRY(session_->enter_thread());
    auto items = hidden_items(kQueueClass, {});
    if (!items) return items.error();
    return static_cast<std::int64_t>(items->size());
  }

 private:
  struct OpenFolder {
    Binary entry_id;
    Com<IMAPIFolder> folder;
  };
  struct Head {
    ItemKind kind = ItemKind::kContact;
    Folder folder = Folder::kContacts;
    Binary change_key;
  };

  const Api& api() const { return session_->api(); }

  // ---- opening

  Result<void> open_default_store() {
    Com<IMAPITable> stores;
    if (HRESULT h = session_->get()->GetMsgStoresTable(0, stores.out()); FAILED(h))
      return error_of(h, "GetMsgStoresTable");
    constexpr ULONG kDefaultStore = 0x3400000B;  // PR_DEFAULT_STORE (PT_BOOLEAN 0x3400)
    TagArray cols({PR_ENTRYID, kDefaultStore});
    if (HRESULT h = stores->SetColumns(cols.get(), 0); FAILED(h)) return error_of(h, "SetColumns");
    Rows rows(api());
    if (HRESULT h = stores->QueryRows(1000, 0, rows.out()); FAILED(h))
      return error_of(h, "QueryRows of the stores");
    for (ULONG i = 0; i < rows.size(); ++i) {
      const SRow& row = rows[i];
      if (row.lpProps[1].ulPropTag != kDefaultStore || !row.lpProps[1].Value.b) continue;
      const SBinary& eid = row.lpProps[0].Value.bin;
      HRESULT h =
          session_->get()->OpenMsgStore(0, eid.cb, reinterpret_cast<LPENTRYID>(eid.lpb), nullptr,
                                        MDB_WRITE | MDB_NO_MAIL | MAPI_BEST_ACCESS, store_.out());
      if (FAILED(h)) return error_of(h, "OpenMsgStore");
      return Ok();
    }
    return Error::Permission("MAPI profile '" + config_.profile + "' has no default store");
  }

  Result<void> resolve_named() {
    // One GetIDsFromNames for the whole table; MAPI_CREATE registers names new to the store.
    std::vector<MAPINAMEID> ids(named_props().size());
    std::vector<LPMAPINAMEID> ptrs;
    std::vector<GUID> guids(named_props().size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const NamedProp& p = named_props()[i];
      std::memcpy(&guids[i], &p.set, sizeof(GUID));
      ids[i].lpguid = &guids[i];
      if (const auto* lid = std::get_if<std::uint32_t>(&p.name)) {
        ids[i].ulKind = MNID_ID;
        ids[i].Kind.lID = static_cast<LONG>(*lid);
      } else {
        ids[i].ulKind = MNID_STRING;
        ids[i].Kind.lpwstrName = const_cast<LPWSTR>(
            reinterpret_cast<LPCWSTR>(std::get<std::u16string_view>(p.name).data()));
      }
      ptrs.push_back(&ids[i]);
    }
    MapiBuffer<SPropTagArray> tags(api());
    HRESULT h = store_->GetIDsFromNames(static_cast<ULONG>(ptrs.size()), ptrs.data(), MAPI_CREATE,
                                        tags.out());
    if (FAILED(h) || !tags.get()) return error_of(h, "GetIDsFromNames");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const ULONG t = tags->aulPropTag[i];
      if (PROP_TYPE(t) == PT_ERROR)
        return Error::Permission("the store cannot register the named property " +
                                 std::string(named_props()[i].label));
      named_tags_[i] = PROP_TAG(static_cast<ULONG>(named_props()[i].type), PROP_ID(t));
    }
    return Ok();
  }

  Result<void> open_folders() {
    Com<IMAPIFolder> inbox;
    {
      ULONG cb = 0;
      MapiBuffer<ENTRYID> eid(api());
      HRESULT h = store_->GetReceiveFolder(const_cast<LPWSTR>(L"IPM.Note"), MAPI_UNICODE, &cb,
                                           eid.out(), nullptr);
      if (FAILED(h)) return error_of(h, "GetReceiveFolder");
      Binary id(reinterpret_cast<BYTE*>(eid.get()), reinterpret_cast<BYTE*>(eid.get()) + cb);
      auto f = open_folder(id);
      if (!f) return f.error().context("Inbox");
      folders_[Folder::kInbox] = {id, std::move(*f)};
    }
    // The root folder: its FAI hold the lease and the queue; it (or the Inbox) carries the
    // PidTagIpm*EntryId of the other default folders ([MS-OXOSFLD] 2.2.3).
    {
      ULONG type = 0;
      if (HRESULT h = store_->OpenEntry(0, nullptr, nullptr, MAPI_BEST_ACCESS, &type,
                                        reinterpret_cast<LPUNKNOWN*>(root_.out()));
          FAILED(h))
        return error_of(h, "open the root folder");
    }
    auto from = [&](IMAPIProp* a, IMAPIProp* b, ULONG t) -> Result<Binary> {
      auto id = binary_prop(a, t);
      if (id || !b) return id;
      return binary_prop(b, t);
    };
    const std::pair<Folder, ULONG> on_inbox[] = {{Folder::kContacts, tag::kIpmContactEntryId},
                                                 {Folder::kTasks, tag::kIpmTaskEntryId},
                                                 {Folder::kCalendar, tag::kIpmAppointmentEntryId},
                                                 {Folder::kDrafts, tag::kIpmDraftsEntryId}};
    for (auto [folder, t] : on_inbox) {
      auto id = from(root_.get(), folders_[Folder::kInbox].folder.get(), t);
      if (!id) return id.error().context(std::string(to_string(folder)) + " folder id");
      auto f = open_folder(*id);
      if (!f) return f.error().context(to_string(folder));
      folders_[folder] = {*id, std::move(*f)};
    }
    auto sent = binary_prop(store_.get(), PR_IPM_SENTMAIL_ENTRYID);
    if (!sent) return sent.error().context("sent items folder id");
    auto sf = open_folder(*sent);
    if (!sf) return sf.error().context("sentitems");
    folders_[Folder::kSentItems] = {*sent, std::move(*sf)};
    auto waste = binary_prop(store_.get(), PR_IPM_WASTEBASKET_ENTRYID);
    if (!waste) return waste.error().context("deleted items folder id");
    auto wf = open_folder(*waste);
    if (!wf) return wf.error().context("deleted items");
    wastebasket_ = std::move(*wf);
    wastebasket_id_ = *waste;
    return Ok();
  }

  Result<Com<IMAPIFolder>> open_folder(const Binary& id) {
    Com<IMAPIFolder> f;
    ULONG type = 0;
    HRESULT h = store_->OpenEntry(
        static_cast<ULONG>(id.size()), reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(id.data())),
        nullptr, MAPI_BEST_ACCESS, &type, reinterpret_cast<LPUNKNOWN*>(f.out()));
    if (FAILED(h)) return error_of(h, "OpenEntry of a folder");
    if (type != MAPI_FOLDER) return Error::Invalid("entry is not a folder");
    return f;
  }

  Result<Com<IMessage>> open_message(const Binary& id, bool write) {
    Com<IMessage> m;
    ULONG type = 0;
    HRESULT h = store_->OpenEntry(static_cast<ULONG>(id.size()),
                                  reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(id.data())),
                                  nullptr, write ? MAPI_MODIFY : MAPI_BEST_ACCESS, &type,
                                  reinterpret_cast<LPUNKNOWN*>(m.out()));
    if (FAILED(h)) {
      Error e = error_of(h, "OpenEntry");
      if (h == E_INVALIDARG) return Error::NotFound("no item " + to_hex(id).substr(0, 64));
      return e.is(ErrorKind::kNotFound) ? Error::NotFound("no item " + to_hex(id).substr(0, 64))
                                        : e;
    }
    if (type != MAPI_MESSAGE)
      return Error::NotFound("entry " + to_hex(id).substr(0, 64) + " is not an item");
    return m;
  }

  // ---- properties

  ULONG tag_of(const PropRef& r) const {
    if (const auto* t = std::get_if<std::uint32_t>(&r.id)) return *t;
    return named_tags_[static_cast<std::size_t>(std::get<Named>(r.id))];
  }

  Result<Binary> binary_prop(IMAPIProp* p, ULONG t) {
    TagArray tags({t});
    ULONG count = 0;
    MapiBuffer<SPropValue> vals(api());
    HRESULT h = p->GetProps(tags.get(), MAPI_UNICODE, &count, vals.out());
    if (FAILED(h)) return error_of(h, "GetProps");
    if (count != 1 || vals->ulPropTag != t)
      return Error::NotFound("property " + PropRef{t}.label() + " missing");
    return binary_of(vals->Value.bin);
  }

  Result<void> write_props(IMessage* m, const std::vector<PropWrite>& writes) {
    PropArray set;
    std::vector<ULONG> gone;
    for (const PropWrite& w : writes) {
      if (std::holds_alternative<std::monostate>(w.value))
        gone.push_back(tag_of(w.ref));
      else
        set.add(tag_of(w.ref), w.value);
    }
    if (set.size() > 0) {
      MapiBuffer<SPropProblemArray> problems(api());
      if (HRESULT h = m->SetProps(set.size(), set.data(), problems.out()); FAILED(h))
        return error_of(h, "SetProps");
      if (problems.get() && problems->cProblem > 0)
        return error_of(static_cast<ULONG>(problems->aProblem[0].scode),
                        "SetProps of " + PropRef{problems->aProblem[0].ulPropTag}.label());
    }
    if (!gone.empty()) {
      TagArray tags(gone);
      MapiBuffer<SPropProblemArray> problems(api());
      if (HRESULT h = m->DeleteProps(tags.get(), problems.out()); FAILED(h))
        return error_of(h, "DeleteProps");
    }
    return Ok();
  }

  Result<void> write_strings(IMessage* m, const std::vector<std::pair<Named, std::string>>& props) {
    std::vector<PropWrite> writes;
    for (const auto& [n, text] : props) {
      auto w = to_utf16(text);
      if (!w) return w.error().context(named(n).label);
      writes.push_back({PropRef{n}, std::move(*w)});
    }
    return write_props(m, writes);
  }

  Result<std::vector<Recipient>> read_recipients(IMessage* m) {
    Com<IMAPITable> table;
    if (HRESULT h = m->GetRecipientTable(MAPI_UNICODE, table.out()); FAILED(h))
      return error_of(h, "GetRecipientTable");
    TagArray cols({PR_RECIPIENT_TYPE, PR_DISPLAY_NAME_W, tag::kSmtpAddress, PR_EMAIL_ADDRESS_W,
                   PR_ADDRTYPE_W});
    if (HRESULT h = table->SetColumns(cols.get(), 0); FAILED(h)) return error_of(h, "SetColumns");
    std::vector<Recipient> out;
    for (;;) {
      Rows rows(api());
      if (HRESULT h = table->QueryRows(kBatch, 0, rows.out()); FAILED(h))
        return error_of(h, "QueryRows of the recipients");
      if (rows.size() == 0) break;
      for (ULONG i = 0; i < rows.size(); ++i) {
        const SPropValue* p = rows[i].lpProps;
        Recipient r;
        r.type = PROP_TYPE(p[0].ulPropTag) == PT_LONG ? p[0].Value.l : 0;
        if (PROP_TYPE(p[1].ulPropTag) == PT_UNICODE) r.name = u16(p[1].Value.lpszW);
        if (PROP_TYPE(p[2].ulPropTag) == PT_UNICODE) r.address = u16(p[2].Value.lpszW);
        if (r.address.empty() && PROP_TYPE(p[3].ulPropTag) == PT_UNICODE &&
            PROP_TYPE(p[4].ulPropTag) == PT_UNICODE && u16(p[4].Value.lpszW) == u"SMTP")
          r.address = u16(p[3].Value.lpszW);
        if (!r.address.empty()) out.push_back(std::move(r));
      }
    }
    return out;
  }

  // Replaces the recipients of the given types; the others stay (ModifyRecipients(0) takes
  // the whole new list). The list is MAPI memory: providers may keep or free its rows.
  Result<void> write_recipients(IMessage* m,
                                const std::map<std::int32_t, std::vector<Recipient>>& change) {
    auto current = read_recipients(m);
    if (!current) return current.error();
    std::vector<Recipient> all;
    for (const Recipient& r : *current)
      if (!change.count(r.type)) all.push_back(r);
    for (const auto& [type, rows] : change) all.insert(all.end(), rows.begin(), rows.end());
    const ULONG n = static_cast<ULONG>(all.size());
    LPADRLIST list = nullptr;
    if (FAILED(
            api().allocate_buffer(CbNewADRLIST(n == 0 ? 1 : n), reinterpret_cast<void**>(&list))))
      return Error::Transient("out of MAPI memory");
    list->cEntries = 0;
    auto free_list = [&] {
      for (ULONG i = 0; i < list->cEntries; ++i) api().free_buffer(list->aEntries[i].rgPropVals);
      api().free_buffer(list);
    };
    for (const Recipient& r : all) {
      constexpr ULONG kProps = 5;
      SPropValue* props = nullptr;
      if (FAILED(api().allocate_buffer(sizeof(SPropValue) * kProps,
                                       reinterpret_cast<void**>(&props)))) {
        free_list();
        return Error::Transient("out of MAPI memory");
      }
      auto copy = [&](const std::u16string& s) -> LPWSTR {
        void* p = nullptr;
        if (FAILED(api().allocate_more(static_cast<ULONG>((s.size() + 1) * 2), props, &p)))
          return nullptr;
        std::memcpy(p, s.c_str(), (s.size() + 1) * 2);
        return static_cast<LPWSTR>(p);
      };
      props[0].ulPropTag = PR_RECIPIENT_TYPE;
      props[0].Value.l = r.type;
      props[1].ulPropTag = PR_DISPLAY_NAME_W;
      props[1].Value.lpszW = copy(r.name);
      props[2].ulPropTag = PR_ADDRTYPE_W;
      props[2].Value.lpszW = copy(u"SMTP");
      props[3].ulPropTag = PR_EMAIL_ADDRESS_W;
      props[3].Value.lpszW = copy(r.address);
      props[4].ulPropTag = tag::kSmtpAddress;
      props[4].Value.lpszW = copy(r.address);
      list->aEntries[list->cEntries].ulReserved1 = 0;
      list->aEntries[list->cEntries].cValues = kProps;
      list->aEntries[list->cEntries].rgPropVals = props;
      ++list->cEntries;
      if (!props[1].Value.lpszW || !props[2].Value.lpszW || !props[3].Value.lpszW ||
          !props[4].Value.lpszW) {
        free_list();
        return Error::Transient("out of MAPI memory");
      }
    }
    HRESULT h = m->ModifyRecipients(0, list);
    free_list();
    if (FAILED(h)) return error_of(h, "ModifyRecipients");
    return Ok();
  }

  // ---- items

  Result<Head> head_of(IMessage* m) {
    TagArray tags({PR_MESSAGE_CLASS_W, PR_PARENT_ENTRYID, tag::kChangeKey});
    ULONG count = 0;
    MapiBuffer<SPropValue> v(api());
    if (HRESULT h = m->GetProps(tags.get(), MAPI_UNICODE, &count, v.out()); FAILED(h))
      return error_of(h, "GetProps");
    if (count != 3 || PROP_TYPE(v.get()[0].ulPropTag) != PT_UNICODE ||
        PROP_TYPE(v.get()[1].ulPropTag) != PT_BINARY ||
        PROP_TYPE(v.get()[2].ulPropTag) != PT_BINARY)
      return Error::Invalid("item without class, folder or change key");
    auto kind = kind_of_message_class(u16(v.get()[0].Value.lpszW));
    if (!kind) return kind.error();
    auto folder = folder_of(binary_of(v.get()[1].Value.bin));
    if (!folder) return Error::NotFound("item outside the synchronized folders");
    return Head{*kind, *folder, binary_of(v.get()[2].Value.bin)};
  }

  std::optional<Folder> folder_of(const Binary& parent) {
    for (const auto& [f, open] : folders_)
      if (same_entry(parent, open.entry_id)) return f;
    return std::nullopt;
  }

  bool same_entry(const Binary& a, const Binary& b) {
    if (a == b) return true;
    ULONG result = 0;
    HRESULT h = store_->CompareEntryIDs(
        static_cast<ULONG>(a.size()), reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(a.data())),
        static_cast<ULONG>(b.size()), reinterpret_cast<LPENTRYID>(const_cast<BYTE*>(b.data())), 0,
        &result);
    return SUCCEEDED(h) && result;
  }

  Result<StoreItem> read(const Binary& id) {
    auto msg = open_message(id, false);
    if (!msg) return msg.error();
    auto head = head_of(msg->get());
    if (!head) return head.error();
    std::vector<PropRef> refs = props_to_read(head->kind);
    std::vector<ULONG> tags = {PR_LAST_MODIFICATION_TIME};
    for (const PropRef& r : refs) tags.push_back(tag_of(r));
    TagArray ta(tags);
    ULONG count = 0;
    MapiBuffer<SPropValue> v(api());
    if (HRESULT h = (*msg)->GetProps(ta.get(), MAPI_UNICODE, &count, v.out()); FAILED(h))
      return error_of(h, "GetProps");
    if (count != tags.size()) return Error::Internal("GetProps returned a different column count");
    std::map<PropRef, PropValue> values;
    for (ULONG i = 1; i < count; ++i) {
      const SPropValue& p = v.get()[i];
      if (PROP_TYPE(p.ulPropTag) == PT_ERROR) {
        // Large text (a long body) does not fit GetProps: read it as a stream.
        if (p.Value.err == static_cast<SCODE>(hr::kNotEnoughMemory) &&
            PROP_TYPE(tags[i]) == PT_UNICODE) {
          auto text = read_stream(msg->get(), tags[i]);
          if (!text) return text.error();
          values[refs[i - 1]] = std::move(*text);
        }
        continue;
      }
      values[refs[i - 1]] = from_spv(p);
    }
    std::vector<Recipient> recipients;
    if (head->kind == ItemKind::kEmail || head->kind == ItemKind::kAppointment) {
      auto r = read_recipients(msg->get());
      if (!r) return r.error();
      recipients = std::move(*r);
    }
    PropLookup get = [&](const PropRef& r) -> const PropValue* {
      auto it = values.find(r);
      return it == values.end() ? nullptr : &it->second;
    };
    StoreItem out;
    out.entry_id = EntryId(entry_id_text(id));
    out.change_key = to_hex(head->change_key);
    out.folder = head->folder;
    out.item.kind = head->kind;
    auto fields = decode_fields(head->kind, get, recipients);
    if (!fields) return fields.error().context("item " + out.entry_id.str().substr(0, 64));
    out.item.fields = std::move(*fields);
    auto link = decode_link(get);
    if (!link) return link.error().context("item " + out.entry_id.str().substr(0, 64));
    out.link = *link;
    if (PROP_TYPE(v.get()[0].ulPropTag) == PT_SYSTIME) {
      auto t = from_filetime(ticks_of(v.get()[0].Value.ft));
      if (!t) return t.error();
      out.item.modified = *t;
    }
    return out;
  }

  Result<std::u16string> read_stream(IMessage* m, ULONG t) {
    Com<IStream> stream;
    if (HRESULT h =
            m->OpenProperty(t, &IID_IStream, 0, 0, reinterpret_cast<LPUNKNOWN*>(stream.out()));
        FAILED(h))
      return error_of(h, "OpenProperty");
    std::u16string out;
    char16_t buf[4096];
    for (;;) {
      ULONG got = 0;
      HRESULT h = stream->Read(buf, sizeof buf, &got);
      if (FAILED(h)) return error_of(h, "IStream::Read");
      out.append(buf, got / 2);
      if (got < sizeof buf) break;
    }
    while (!out.empty() && out.back() == u'\0') out.pop_back();
    return out;
  }

  // The entry ids of a folder's (or its associated) contents, newest modification first.
  Result<std::vector<Binary>> entry_ids(IMAPIFolder* f, ULONG flags, SRestriction* r) {
    Com<IMAPITable> table;
    if (HRESULT h = f->GetContentsTable(flags | MAPI_UNICODE, table.out()); FAILED(h))
      return error_of(h, "GetContentsTable");
    TagArray cols({PR_ENTRYID});
    if (HRESULT h = table->SetColumns(cols.get(), TBL_BATCH); FAILED(h))
      return error_of(h, "SetColumns");
    if (r)
      if (HRESULT h = table->Restrict(r, TBL_BATCH); FAILED(h)) return error_of(h, "Restrict");
    SizedSSortOrderSet(1, order) = {1, 0, 0, {{PR_LAST_MODIFICATION_TIME, TABLE_SORT_DESCEND}}};
    if (HRESULT h = table->SortTable(reinterpret_cast<LPSSortOrderSet>(&order), TBL_BATCH);
        FAILED(h))
      return error_of(h, "SortTable");
    std::vector<Binary> out;
    for (;;) {
      Rows rows(api());
      if (HRESULT h = table->QueryRows(kBatch, 0, rows.out()); FAILED(h))
        return error_of(h, "QueryRows");
      if (rows.size() == 0) break;
      for (ULONG i = 0; i < rows.size(); ++i)
        if (PROP_TYPE(rows[i].lpProps[0].ulPropTag) == PT_BINARY)
          out.push_back(binary_of(rows[i].lpProps[0].Value.bin));
    }
    return out;
  }

  // ---- hidden items

  Result<std::vector<Hidden>> hidden_items(std::u16string_view cls, std::span<const Named> props) {
    Com<IMAPITable> table;
    if (HRESULT h = root_->GetContentsTable(MAPI_ASSOCIATED | MAPI_UNICODE, table.out()); FAILED(h))
      return error_of(h, "GetContentsTable of the hidden items");
    std::vector<ULONG> tags = {PR_ENTRYID, tag::kChangeKey};
    for (Named n : props) tags.push_back(tag_of(PropRef{n}));
    TagArray cols(tags);
    if (HRESULT h = table->SetColumns(cols.get(), TBL_BATCH); FAILED(h))
      return error_of(h, "SetColumns");
    std::u16string value(cls);
    SPropValue v{};
    v.ulPropTag = PR_MESSAGE_CLASS_W;
    v.Value.lpszW = reinterpret_cast<LPWSTR>(value.data());
    SRestriction r{};
    r.rt = RES_PROPERTY;
    r.res.resProperty.relop = RELOP_EQ;
    r.res.resProperty.ulPropTag = PR_MESSAGE_CLASS_W;
    r.res.resProperty.lpProp = &v;
    if (HRESULT h = table->Restrict(&r, TBL_BATCH); FAILED(h)) return error_of(h, "Restrict");
    // Oldest first; queue entries of one instant by their sequence property.
    SizedSSortOrderSet(2, order) = {2,
                                    0,
                                    0,
                                    {{PR_CREATION_TIME, TABLE_SORT_ASCEND},
                                     {tag_of(PropRef{Named::kQueueSeq}), TABLE_SORT_ASCEND}}};
    if (HRESULT h = table->SortTable(reinterpret_cast<LPSSortOrderSet>(&order), TBL_BATCH);
        FAILED(h))
      return error_of(h, "SortTable");
    std::vector<Hidden> out;
    for (;;) {
      Rows rows(api());
      if (HRESULT h = table->QueryRows(kBatch, 0, rows.out()); FAILED(h))
        return error_of(h, "QueryRows");
      if (rows.size() == 0) break;
      for (ULONG i = 0; i < rows.size(); ++i) {
        const SPropValue* p = rows[i].lpProps;
        if (PROP_TYPE(p[0].ulPropTag) != PT_BINARY) continue;
        Hidden hid;
        hid.entry_id = binary_of(p[0].Value.bin);
        if (PROP_TYPE(p[1].ulPropTag) == PT_BINARY) hid.change_key = binary_of(p[1].Value.bin);
        for (std::size_t k = 0; k < props.size(); ++k)
          if (PROP_TYPE(p[k + 2].ulPropTag) == PT_UNICODE)
            hid.props[props[k]] = to_utf8(u16(p[k + 2].Value.lpszW));
        out.push_back(std::move(hid));
      }
    }
    return out;
  }

  // A new associated message; its entry id and change key.
  Result<std::pair<Binary, Binary>> create_hidden(
      std::u16string_view cls, const std::vector<std::pair<Named, std::string>>& props) {
    Com<IMessage> msg;
    if (HRESULT h = root_->CreateMessage(nullptr, MAPI_ASSOCIATED, msg.out()); FAILED(h))
      return error_of(h, "CreateMessage of a hidden item");
    CRMSYNC_TRY(write_props(msg.get(), {{PropRef{tag::kMessageClass}, std::u16string(cls)}}));
    CRMSYNC_TRY(write_strings(msg.get(), props));
    if (HRESULT h = msg->SaveChanges(KEEP_OPEN_READWRITE); FAILED(h))
      return error_of(h, "SaveChanges of a hidden item");
    auto id = binary_prop(msg.get(), PR_ENTRYID);
    if (!id) return id.error();
    auto ck = binary_prop(msg.get(), tag::kChangeKey);
    if (!ck) return ck.error();
    return std::pair{*id, *ck};
  }

  Result<void> delete_hidden(const Binary& id) {
    SBinary one = sbinary(id);
    ENTRYLIST list{1, &one};
    HRESULT h = root_->DeleteMessages(&list, 0, nullptr, kDeleteHardDelete);
    if (FAILED(h)) return error_of(h, "DeleteMessages of a hidden item");
    // MAPI_W_PARTIAL_COMPLETION (0x00040680): the entry was not there.
    if (h == 0x00040680) return Error::NotFound("hidden item " + to_hex(id).substr(0, 64));
    return Ok();
  }

  // ---- events

  // The adapter's own writes are logged at once (SPEC C5 recognises them by change key); the
  // notifications they cause later are dropped by entry id and change key.
  void log_own(ItemKind kind, const Binary& id, Action action, const std::string& change_key) {
    std::lock_guard lock(mutex_);
    append(kind, id, action);
    own_[to_hex(id)] = action == Action::kDelete ? std::string("-") : change_key;
  }

  void append(ItemKind kind, const Binary& id, Action action) {
    StoreEvent e;
    e.seq = ++next_seq_;
    e.kind = kind;
    e.entry_id = EntryId(entry_id_text(id));
    e.action = action;
    e.at = clock_.now();
    events_.push_back(std::move(e));
    while (events_.size() > config_.max_events) events_.pop_front();
    cv_.notify_all();
  }

  // Turns the advise sink's notifications into events, on the caller's (MAPI) thread.
  Result<void> absorb_notes() {
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
      const bool to_waste = n.event == fnevObjectMoved && same_entry(n.parent_id, wastebasket_id_);
      if (n.event == fnevObjectDeleted || to_waste) {
        const Binary& from = n.event == fnevObjectMoved ? n.old_parent_id : n.parent_id;
        auto folder = folder_of(from);
        if (!folder || own() == "-") continue;
        std::lock_guard lock(mutex_);
        append(kind_of_folder(*folder), n.entry_id, Action::kDelete);
        continue;
      }
      auto item = read(n.entry_id);
      if (!item) {
        if (item.error().is(ErrorKind::kNotFound) || item.error().is(ErrorKind::kInvalid)) continue;
        return item.error();
      }
      if (own() == item->change_key) continue;  // our own write, logged already
      const bool created = n.event == fnevObjectCreated ||
                           (n.event == fnevObjectMoved && !folder_of(n.old_parent_id));
      std::lock_guard lock(mutex_);
      append(item->item.kind, n.entry_id, created ? Action::kCreate : Action::kUpdate);
    }
    return Ok();
  }

  MapiStoreConfig config_;
  Clock& clock_;
  std::unique_ptr<Session> session_;
  Com<IMsgStore> store_;
  Com<IMAPIFolder> root_;
  Com<IMAPIFolder> wastebasket_;
  Binary wastebasket_id_;
  std::map<Folder, OpenFolder> folders_;
  std::array<ULONG, static_cast<std::size_t>(Named::kCount)> named_tags_{};
  ULONG advise_connection_ = 0;
  std::int64_t queue_counter_ = 0;

  std::mutex mutex_;  // guards what the notification thread touches
  std::condition_variable cv_;
  std::deque<Note> notes_;
  std::deque<StoreEvent> events_;
  std::map<std::string, std::string> own_;  // entry id hex -> change key we wrote ("-": deleted)
  std::int64_t next_seq_ = 0;
};

}  // namespace

Result<std::unique_ptr<StoreAdapter>> open_mapi_store(const MapiStoreConfig& config, Clock& clock) {
  if (config.max_events == 0) return Error::Invalid("store.max_events must be positive");
  auto session = Session::logon(config);
  if (!session) return session.error();
  auto store = std::make_unique<MapiStore>(config, clock, std::move(*session));
  if (auto r = store->open(); !r) return r.error().context("MAPI profile '" + config.profile + "'");
  return std::unique_ptr<StoreAdapter>(std::move(store));
}

}  // namespace crmsync
