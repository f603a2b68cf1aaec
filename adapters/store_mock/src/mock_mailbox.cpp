#include "crmsync/store_mock/mock_mailbox.hpp"

#include <algorithm>
#include <random>
#include <thread>

#include "change_positions.hpp"
#include "crmsync/core/change_log.hpp"
#include "crmsync/core/sqlite.hpp"
#include "crmsync/model/mapping.hpp"
#include "field_codec.hpp"
#include "file_watch.hpp"
#include "mock_file.hpp"

namespace crmsync {
namespace {

using sql::Database;
using sql::Statement;
using sql::Transaction;
using Mode = Transaction::Kind;

constexpr std::size_t kEntryIdBytes = 24;
constexpr std::size_t kChangeKeyBytes = 16;

#define MOCK_ITEM_COLUMNS                                                                       \
  "entry_id, kind, folder, change_key, modified, tracked, crm_id, crm_id_pending, crm_entity, " \
  "fields, categories"
constexpr const char* kItemColumns = MOCK_ITEM_COLUMNS;

bool folder_fits(ItemKind kind, Folder folder) {
  switch (kind) {
    case ItemKind::kContact:
      return folder == Folder::kContacts;
    case ItemKind::kTask:
      return folder == Folder::kTasks;
    case ItemKind::kAppointment:
      return folder == Folder::kCalendar;
    case ItemKind::kEmail:
      return folder == Folder::kInbox || folder == Folder::kSentItems || folder == Folder::kDrafts;
  }
  return false;
}

std::optional<std::string> opt_text(const Statement& st, int col) {
  if (st.is_null(col)) return std::nullopt;
  return st.text(col);
}

Error not_found(const EntryId& id) {
  return Error::NotFound("mock mailbox: no item " + id.str());
}

Result<StoreItem> read_item_row(const Statement& st) {
  StoreItem it;
  it.entry_id = EntryId(st.text(0));
  auto kind = parse_item_kind(st.text(1));
  if (!kind) return Error::Corrupt("mock mailbox: bad kind of " + it.entry_id.str());
  it.item.kind = *kind;
  auto folder = parse_folder(st.text(2));
  if (!folder) return Error::Corrupt("mock mailbox: bad folder of " + it.entry_id.str());
  it.folder = *folder;
  it.change_key = st.text(3);
  it.item.modified = UtcTime{st.int64(4)};
  it.link.tracked = st.int64(5) != 0;
  if (auto crm = opt_text(st, 6)) {
    auto id = CrmId::parse(*crm);
    if (!id) return Error::Corrupt("mock mailbox: bad crm id of " + it.entry_id.str());
    it.link.crm_id = *id;
  }
  it.link.crm_id_pending = st.int64(7) != 0;
  if (auto ent = opt_text(st, 8)) {
    auto e = parse_crm_entity(*ent);
    if (!e) return Error::Corrupt("mock mailbox: bad crm entity of " + it.entry_id.str());
    it.link.crm_entity = *e;
  }
  auto fields = store_mock::decode_fields(st.text(9));
  if (!fields) return fields.error().context(it.entry_id.str());
  it.item.fields = std::move(*fields);
  auto categories = store_mock::decode_categories(st.text(10));
  if (!categories) return categories.error().context(it.entry_id.str());
  it.categories = std::move(*categories);
  return it;
}

class MockMailboxImpl final : public MockMailbox {
 public:
  MockMailboxImpl(Database db, Clock& clock, TrackCategory track, std::string path)
      : db_(std::move(db)),
        clock_(clock),
        rng_(std::random_device{}()),
        lease_(store_mock::make_lease(db_)),
        queue_(store_mock::make_queue(db_)),
        track_(std::move(track)),
        path_(std::move(path)) {}

  LeaseStore* lease_store() override { return lease_.get(); }
  HandoffQueue* handoff_queue() override { return queue_.get(); }

  // ---- StoreAdapter: the daemon's own writes (surface none) ----

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override {
    auto st = db_.prepare(std::string("SELECT ") + kItemColumns +
                          " FROM items WHERE kind = ?1 AND modified >= ?2"
                          " ORDER BY modified DESC, entry_id");
    if (!st) return st.error();
    st->bind(1, to_string(kind)).bind(2, since.ms);
    return collect(*st);
  }

  // The same rows as scan_modified_since without decoding any item: an index range scan.
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind kind, UtcTime since) override {
    auto cached = db_.cached(
        "SELECT entry_id, change_key, modified, tracked FROM items WHERE kind = ?1 AND "
        "modified >= ?2 ORDER BY modified DESC, entry_id");
    if (!cached) return cached.error();
    Statement* st = *cached;
    sql::ResetOnExit done(*st);
    st->bind(1, to_string(kind)).bind(2, since.ms);
    std::vector<StoreItemHeader> out;
    for (;;) {
      auto row = st->step();
      if (!row) return row.error();
      if (!*row) return out;
      out.push_back(StoreItemHeader{EntryId(st->text(0)), st->text(1), UtcTime{st->int64(2)},
                                    st->int64(3) != 0});
    }
  }

  // S2 by the change log's order (change_positions.hpp): no margin, nothing listed when
  // nothing changed.
  bool has_change_positions() override { return true; }
  Result<ChangedHeaders> headers_changed_after(ItemKind kind,
                                               const std::string& position) override {
    return store_mock::headers_changed_after(db_, kind, position);
  }

  Result<StoreItem> get(const EntryId& id) override {
    auto r = load(id);
    if (!r) return r.error();
    if (!*r) return not_found(id);
    return std::move(**r);
  }

  Result<std::optional<StoreItem>> find_by_crm_id(const CrmId& id) override {
    // Cached statements (prepared once per connection): these run once per item in a sync.
    auto st = db_.cached("SELECT " MOCK_ITEM_COLUMNS
                         " FROM items WHERE crm_id = ?1 ORDER BY modified DESC LIMIT 1");
    if (!st) return st.error();
    (*st)->bind(1, std::string_view(id.str()));
    auto items = collect(**st);
    if (!items) return items.error();
    if (items->empty()) return std::optional<StoreItem>{};
    return std::optional<StoreItem>(std::move(items->front()));
  }

  Result<StoreItem> create(const NewStoreItem& n) override {
    if (!folder_fits(n.item.kind, n.folder))
      return Error::Invalid("mock mailbox: a " + std::string(to_string(n.item.kind)) +
                            " cannot live in folder " + std::string(to_string(n.folder)));
    CRMSYNC_TRY(validate(n.item.kind, n.item.fields));
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    StoreItem it;
    it.entry_id = EntryId(random_hex(kEntryIdBytes));
    it.change_key = random_hex(kChangeKeyBytes);
    it.folder = n.folder;
    it.item.kind = n.item.kind;
    for (const auto& [k, v] : n.item.fields)
      if (!is_null(v)) it.item.fields.emplace(k, v);
    it.item.modified = clock_.now();
    it.link = n.link;
    CRMSYNC_TRY(insert(it));
    CRMSYNC_TRY(log(it.item.kind, it.entry_id, Action::kCreate, Surface::kNone));
    CRMSYNC_TRY(tx->commit());
    return it;
  }

  // One transaction for all: each create nests as a savepoint, so a refused item fails alone.
  std::vector<Result<StoreItem>> create_many(const std::vector<NewStoreItem>& items) override {
    std::vector<Result<StoreItem>> out;
    out.reserve(items.size());
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) {
      for (std::size_t i = 0; i < items.size(); ++i) out.emplace_back(tx.error());
      return out;
    }
    for (const auto& n : items) out.push_back(create(n));
    if (auto c = tx->commit(); !c) {
      for (auto& r : out)
        if (r) r = c.error();
    }
    return out;
  }

  Result<std::string> update(const EntryId& id, const std::string& expected_change_key,
                             const FieldMap& changes, const std::optional<CrmLink>& link) override {
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    auto cur = load_existing(id);
    if (!cur) return cur.error();
    StoreItem& it = *cur;
    if (it.change_key != expected_change_key)
      return Error::Conflict("mock mailbox: item " + id.str() + " changed since change key " +
                             expected_change_key);
    CRMSYNC_TRY(validate(it.item.kind, changes));
    apply(it.item.fields, changes);
    if (link) it.link = *link;
    CRMSYNC_TRY(rewrite(it));
    CRMSYNC_TRY(log(it.item.kind, id, Action::kUpdate, Surface::kNone));
    CRMSYNC_TRY(tx->commit());
    return it.change_key;
  }

  Result<void> remove(const EntryId& id) override { return user_remove(id, Surface::kNone); }

  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override {
    return change_log().after(after, max);
  }

  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override {
    // Adapters may use OS time: the wait is real even under a fake Clock.
    using Steady = std::chrono::steady_clock;
    const auto deadline = Steady::now() + timeout;
    std::int64_t seen_version = -1;
    for (;;) {
      auto version = db_.data_version();
      if (!version || *version != seen_version) {
        if (version) seen_version = *version;
        auto last = last_event_seq();
        if (last && *last > after) return true;
      }
      auto now = Steady::now();
      if (now >= deadline) return false;
      std::this_thread::sleep_for(
          std::min<Steady::duration>(std::chrono::milliseconds(5), deadline - now));
    }
  }

  // U2: the user's decision through the daemon, as the explorer's button would record it.
  Result<std::int64_t> record_decision(const StoreEvent& d) override {
    std::int64_t seq = 0;
    Result<void> r = Ok();
    switch (d.action) {
      case Action::kTrack:
        r = modify(d.entry_id, d.action, Surface::kExplorer, false, set_tracked, &seq);
        break;
      case Action::kUntrack:
        r = modify(d.entry_id, d.action, Surface::kExplorer, d.delete_in_crm, clear_link, &seq);
        break;
      case Action::kSetRegarding:  // the caller set Regarding already
        r = modify(
            d.entry_id, d.action, Surface::kExplorer, false,
            [](StoreItem&) -> Result<void> { return Ok(); }, &seq);
        break;
      default:
        return Error::Invalid("mock mailbox: a decision is track, untrack or set-regarding, not " +
                              std::string(to_string(d.action)));
    }
    if (!r) return r.error();
    return seq;
  }

  bool watch_changes(std::function<void()> on_change) override {
    return watch_.start(path_, std::move(on_change));
  }

  // ---- MockMailbox: the user's actions ----

  Result<EntryId> add(ItemKind kind, std::optional<Folder> folder, const FieldMap& fields,
                      bool track, Surface surface) override {
    Folder f = folder.value_or(default_folder(kind));
    if (!folder_fits(kind, f))
      return Error::Invalid("a " + std::string(to_string(kind)) + " cannot live in folder " +
                            std::string(to_string(f)));
    CRMSYNC_TRY(validate(kind, fields));
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    StoreItem it;
    it.entry_id = EntryId(random_hex(kEntryIdBytes));
    it.change_key = random_hex(kChangeKeyBytes);
    it.folder = f;
    it.item.kind = kind;
    for (const auto& [k, v] : fields)
      if (!is_null(v)) it.item.fields.emplace(k, v);
    it.item.modified = clock_.now();
    it.link.tracked = track;
    CRMSYNC_TRY(insert(it));
    CRMSYNC_TRY(log(kind, it.entry_id, Action::kCreate, surface));
    if (track) CRMSYNC_TRY(log(kind, it.entry_id, Action::kTrack, surface));
    CRMSYNC_TRY(tx->commit());
    return it.entry_id;
  }

  Result<void> set(const EntryId& id, const FieldMap& fields, Surface surface) override {
    return modify(id, Action::kUpdate, surface, false, [&](StoreItem& it) -> Result<void> {
      CRMSYNC_TRY(validate(it.item.kind, fields));
      apply(it.item.fields, fields);
      return Ok();
    });
  }

  Result<void> remove(const EntryId& id, Surface surface) override {
    return user_remove(id, surface);
  }

  Result<void> track(const EntryId& id, Surface surface) override {
    return modify(id, Action::kTrack, surface, false, set_tracked);
  }

  Result<void> untrack(const EntryId& id, bool delete_in_crm, Surface surface) override {
    return modify(id, Action::kUntrack, surface, delete_in_crm, clear_link);
  }

  Result<void> set_regarding(const EntryId& id, const EntityRef& regarding,
                             Surface surface) override {
    return modify(id, Action::kSetRegarding, surface, false, [&](StoreItem& it) -> Result<void> {
      if (!is_known_store_field(it.item.kind, "Regarding"))
        return Error::Invalid("a " + std::string(to_string(it.item.kind)) +
                              " has no Regarding field");
      FieldMap change{{"Regarding", Value(regarding)}};
      CRMSYNC_TRY(validate(it.item.kind, change));
      apply(it.item.fields, change);
      return Ok();
    });
  }

  Result<void> send(const EntryId& id) override {
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    auto cur = load_existing(id);
    if (!cur) return cur.error();
    StoreItem& it = *cur;
    if (it.item.kind != ItemKind::kEmail || it.folder != Folder::kDrafts)
      return Error::Invalid("item " + id.str() + " is not a draft e-mail (it is a " +
                            std::string(to_string(it.item.kind)) + " in " +
                            std::string(to_string(it.folder)) + ")");
    it.folder = Folder::kSentItems;
    if (is_known_store_field(ItemKind::kEmail, "SentTime"))
      it.item.fields["SentTime"] = Value(clock_.now());
    CRMSYNC_TRY(rewrite(it));
    CRMSYNC_TRY(
        insert_event(it.item.kind, id, Action::kSend, Surface::kInspector, Phase::kSend, false));
    return tx->commit();
  }

  // U1: the track category gained by an untracked item tracks it, lost by a tracked one
  // untracks it, as if in the explorer; any other category change is an update from elsewhere.
  Result<void> set_category(const EntryId& id, std::string_view name, bool present) override {
    auto checked = check_category_name(name);
    if (!checked) return checked.error();
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    auto cur = load_existing(id);
    if (!cur) return cur.error();
    StoreItem& it = *cur;
    auto& cats = it.categories;
    auto same = [&](const std::string& c) { return same_category(c, *checked); };
    if (std::any_of(cats.begin(), cats.end(), same) == present) return Ok();  // nothing to do
    const bool had_ours = track_.present_in(cats);
    if (present)
      cats.push_back(*checked);
    else
      cats.erase(std::remove_if(cats.begin(), cats.end(), same), cats.end());
    Action action = Action::kUpdate;
    Surface surface = Surface::kNone;
    if (auto intent = track_.intent(cats, it.link.tracked, had_ours)) {
      action = *intent;
      surface = Surface::kExplorer;
      CRMSYNC_TRY(action == Action::kTrack ? set_tracked(it) : clear_link(it));
    }
    CRMSYNC_TRY(rewrite(it));
    CRMSYNC_TRY(log(it.item.kind, id, action, surface));
    return tx->commit();
  }

  Result<std::vector<StoreItem>> list(std::optional<ItemKind> kind) override {
    std::string sql = std::string("SELECT ") + kItemColumns + " FROM items";
    if (kind) sql += " WHERE kind = ?1";
    sql += " ORDER BY modified DESC, entry_id";
    auto st = db_.prepare(sql);
    if (!st) return st.error();
    if (kind) st->bind(1, to_string(*kind));
    return collect(*st);
  }

  Result<std::int64_t> last_event_seq() override { return change_log().last_seq(); }

 private:
  static Result<void> set_tracked(StoreItem& it) {
    it.link.tracked = true;
    return Ok();
  }
  static Result<void> clear_link(StoreItem& it) {
    it.link = CrmLink{};
    return Ok();
  }

  // One user action on an item in one transaction; `seq`, when given, gets its last event's.
  template <class F>
  Result<void> modify(const EntryId& id, Action action, Surface surface, bool delete_in_crm,
                      F&& change, std::int64_t* seq = nullptr) {
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    auto cur = load_existing(id);
    if (!cur) return cur.error();
    StoreItem& it = *cur;
    CRMSYNC_TRY(change(it));
    CRMSYNC_TRY(rewrite(it));
    CRMSYNC_TRY(log(it.item.kind, id, action, surface, delete_in_crm));
    if (seq != nullptr) {  // the write lock is ours: the last event is this one
      auto last = change_log().last_seq();
      if (!last) return last.error();
      *seq = *last;
    }
    return tx->commit();
  }

  Result<void> user_remove(const EntryId& id, Surface surface) {
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    auto cur = load_existing(id);
    if (!cur) return cur.error();
    auto st = db_.prepare("DELETE FROM items WHERE entry_id = ?1");
    if (!st) return st.error();
    st->bind(1, std::string_view(id.str()));
    CRMSYNC_TRY(st->run());
    CRMSYNC_TRY(log(cur->item.kind, id, Action::kDelete, surface));
    return tx->commit();
  }

  Result<void> validate(ItemKind kind, const FieldMap& fields) const {
    for (const auto& [name, value] : fields) {
      if (!is_known_store_field(kind, name))
        return Error::Invalid("unknown field '" + name + "' for a " + std::string(to_string(kind)));
      CRMSYNC_TRY(store_mock::validate_value(name, value, kMaxValueBytes));
      CRMSYNC_TRY(check_type(kind, name, value));
    }
    return Ok();
  }

  // The value has the type (and, for choices like Importance, a value) the field takes: its
  // text form must parse back to the same type. Party lists are probed with one address,
  // since resolved parties may have none.
  static Result<void> check_type(ItemKind kind, const std::string& name, const Value& value) {
    if (is_null(value)) return Ok();
    bool parties = std::holds_alternative<PartyList>(value);
    auto probe = parse_store_value(kind, name, parties ? "probe@example.org" : display(value));
    if (!probe) return probe.error();
    if (probe->index() != value.index())
      return Error::Invalid("field " + name + ": a " + std::string(type_name(value)) +
                            " value does not fit (it takes a " + std::string(type_name(*probe)) +
                            ")");
    return Ok();
  }

  static void apply(FieldMap& fields, const FieldMap& changes) {
    for (const auto& [name, value] : changes) {
      if (is_null(value))
        fields.erase(name);
      else
        fields.insert_or_assign(name, value);
    }
  }

  // The item, or kNotFound naming it.
  Result<StoreItem> load_existing(const EntryId& id) {
    auto r = load(id);
    if (!r) return r.error();
    if (!*r) return not_found(id);
    return std::move(**r);
  }

  Result<std::optional<StoreItem>> load(const EntryId& id) {
    auto st = db_.cached("SELECT " MOCK_ITEM_COLUMNS " FROM items WHERE entry_id = ?1");
    if (!st) return st.error();
    (*st)->bind(1, std::string_view(id.str()));
    auto items = collect(**st);
    if (!items) return items.error();
    if (items->empty()) return std::optional<StoreItem>{};
    return std::optional<StoreItem>(std::move(items->front()));
  }

  // Reads every row; resets the statement whatever happens (it may be a cached one).
  static Result<std::vector<StoreItem>> collect(Statement& st) {
    sql::ResetOnExit done(st);
    std::vector<StoreItem> out;
    for (;;) {
      auto row = st.step();
      if (!row) return row.error();
      if (!*row) return out;
      auto it = read_item_row(st);
      if (!it) return it.error();
      out.push_back(std::move(*it));
    }
  }

  static void bind_link(Statement& st, const CrmLink& link) {
    st.bind(6, std::int64_t{link.tracked});
    if (link.crm_id)
      st.bind(7, std::string_view(link.crm_id->str()));
    else
      st.bind_null(7);
    st.bind(8, std::int64_t{link.crm_id_pending});
    if (link.crm_entity)
      st.bind(9, to_string(*link.crm_entity));
    else
      st.bind_null(9);
  }

  Result<void> insert(StoreItem& it) {
    keep_in_step(it);
    auto cached = db_.cached("INSERT INTO items (" MOCK_ITEM_COLUMNS
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!cached) return cached.error();
    Statement* st = *cached;
    st->bind(1, std::string_view(it.entry_id.str()))
        .bind(2, to_string(it.item.kind))
        .bind(3, to_string(it.folder))
        .bind(4, std::string_view(it.change_key))
        .bind(5, it.item.modified.ms);
    bind_link(*st, it.link);
    st->bind(10, std::string_view(store_mock::encode_fields(it.item.fields)));
    st->bind(11, std::string_view(store_mock::encode_categories(it.categories)));
    return st->run();
  }

  // U1: every write keeps our category in step with the tracked mark (the user's intents are
  // applied to the mark first), the other categories as they are.
  void keep_in_step(StoreItem& it) const {
    if (auto c = track_.in_step(it.categories, it.link.tracked)) it.categories = std::move(*c);
  }

  // Writes the item back with a new change key and a later modification time.
  Result<void> rewrite(StoreItem& it) {
    keep_in_step(it);
    it.change_key = random_hex(kChangeKeyBytes);
    it.item.modified = UtcTime{std::max(clock_.now().ms, it.item.modified.ms + 1)};
    auto cached = db_.cached(
        "UPDATE items SET kind = ?2, folder = ?3, change_key = ?4, modified = ?5, tracked = ?6,"
        " crm_id = ?7, crm_id_pending = ?8, crm_entity = ?9, fields = ?10, categories = ?11"
        " WHERE entry_id = ?1");
    if (!cached) return cached.error();
    Statement* st = *cached;
    st->bind(1, std::string_view(it.entry_id.str()))
        .bind(2, to_string(it.item.kind))
        .bind(3, to_string(it.folder))
        .bind(4, std::string_view(it.change_key))
        .bind(5, it.item.modified.ms);
    bind_link(*st, it.link);
    st->bind(10, std::string_view(store_mock::encode_fields(it.item.fields)));
    st->bind(11, std::string_view(store_mock::encode_categories(it.categories)));
    CRMSYNC_TRY(st->run());
    if (db_.changes() != 1) return not_found(it.entry_id);
    return Ok();
  }

  // One user action as events: inspector = save then close; explorer or none = one event.
  Result<void> log(ItemKind kind, const EntryId& id, Action action, Surface surface,
                   bool delete_in_crm = false) {
    if (surface == Surface::kInspector) {
      CRMSYNC_TRY(insert_event(kind, id, action, surface, Phase::kSave, delete_in_crm));
      return insert_event(kind, id, action, surface, Phase::kClose, delete_in_crm);
    }
    return insert_event(kind, id, action, surface, Phase::kNone, delete_in_crm);
  }

  Result<void> insert_event(ItemKind kind, const EntryId& id, Action action, Surface surface,
                            Phase phase, bool delete_in_crm) {
    StoreEvent e;
    e.kind = kind;
    e.entry_id = id;
    e.action = action;
    e.surface = surface;
    e.phase = phase;
    e.delete_in_crm = delete_in_crm;
    e.at = clock_.now();
    return change_log().append(e);
  }

  sql::ChangeLog change_log() {
    return sql::ChangeLog(db_, sql::ChangeLog::Layout::kFull, "mock mailbox");
  }

  std::string random_hex(std::size_t bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes * 2);
    std::uniform_int_distribution<int> byte(0, 255);
    for (std::size_t i = 0; i < bytes; ++i) {
      int b = byte(rng_);
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
    }
    return out;
  }

  Database db_;
  Clock& clock_;
  std::mt19937_64 rng_;
  std::unique_ptr<LeaseStore> lease_;  // over db_: declared after it, destroyed before it
  std::unique_ptr<HandoffQueue> queue_;
  TrackCategory track_;  // the file's (U1)
  std::string path_;
  store_mock::FileWatch watch_;  // last: its thread stops before the rest goes
};

}  // namespace

Result<std::unique_ptr<MockMailbox>> open_mock_mailbox(const std::string& path, Clock& clock,
                                                       std::optional<TrackCategory> track) {
  auto db = store_mock::open_file(path);
  if (!db) return db.error();
  auto ours = store_mock::track_category(*db, track);
  if (!ours) return ours.error().context("mock mailbox " + path);
  return std::unique_ptr<MockMailbox>(
      new MockMailboxImpl(std::move(*db), clock, std::move(*ours), path));
}

}  // namespace crmsync
