// Change detection: one delta link per collection, kept in the state file, followed page by
// page; each page turns into index entries and change-log events in one transaction (nothing of
// a page that does not read cleanly is written). The first round of a collection is a baseline
// (no events: the S2 scan covers what was there); a 410 (syncStateNotFound) starts a full round
// compared with the index (events only for what is new, changed or gone: no duplicates); the
// calendar's window moves with time the same way, and an event that left the window is not a
// deletion (a vanished event is asked for before it is reported deleted).
#include <algorithm>

#include "store.hpp"

namespace crmsync::graph {
namespace {

constexpr std::int64_t kDay = 86'400'000;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// A link for messages: no token (a secret of the mailbox's state) in errors.
std::string shown(std::string_view link) {
  return std::string(link.substr(0, std::min(link.find('?'), std::size_t{200})));
}

// "…/contactfolders/{id}/contacts/delta?…": the default contact folder's id.
std::string contact_folder_of(const std::string& link) {
  const std::string marker = "/contactfolders/";
  auto at = link.find(marker);
  if (at == std::string::npos) return {};
  at += marker.size();
  auto end = link.find('/', at);
  if (end == std::string::npos) return {};
  std::string id = link.substr(at, end - at);
  std::string out;
  for (std::size_t i = 0; i < id.size(); ++i) {  // percent-decoded
    if (id[i] == '%' && i + 2 < id.size()) {
      out += static_cast<char>(std::stoi(id.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += id[i];
    }
  }
  return out;
}

struct Entry {
  Entity e;
  std::optional<Known> known;
  bool tracked = false;
  std::optional<CrmId> crm_id;
  bool skip = false;  // a series (U5), or gone before it could be read
};

}  // namespace

std::int64_t GraphStoreImpl::window_start() const {
  return (clock_.now().ms / kDay - config_.calendar_past_days) * kDay;
}

Result<std::string> GraphStoreImpl::initial_link(const Collection& c, std::int64_t window) const {
  const std::string expand = "?$expand=" + url_encode(expand_of(c.kind));
  switch (c.kind) {
    case ItemKind::kContact:
      return client_.url("contacts/delta" + expand);
    case ItemKind::kTask:
      return client_.url("todo/lists/" + url_encode(task_list_) + "/tasks/delta" + expand);
    case ItemKind::kAppointment: {
      const std::int64_t end = window + static_cast<std::int64_t>(config_.calendar_past_days +
                                                                  config_.calendar_future_days) *
                                            kDay;
      return client_.url("calendarView/delta?startDateTime=" + url_encode(UtcTime{window}.iso()) +
                         "&endDateTime=" + url_encode(UtcTime{end}.iso()));
    }
    case ItemKind::kEmail:
      return client_.url("mailFolders/" + std::string(c.name) + "/messages/delta" + expand);
  }
  return Error::Internal("unknown collection");
}

Result<void> GraphStoreImpl::sync_all() {
  CRMSYNC_TRY(resolve());
  for (const auto& c : kCollections)
    if (auto r = sync_collection(c); !r) return r.error().context("delta " + std::string(c.name));
  return Ok();
}

Result<void> GraphStoreImpl::sync_collection(const Collection& c) {
  const std::string name(c.name);
  const std::int64_t ws = window_start();
  auto stored = state_.delta(name);
  if (!stored) return stored.error();
  DeltaRow row;
  if (*stored) {
    row = **stored;
  } else {
    auto link = initial_link(c, ws);
    if (!link) return link.error();
    row = DeltaRow{name, *link, DeltaRow::Mode::kBaseline, 1, ws};
  }
  // The calendar's window follows the clock a week at a time: a new full round on the new
  // window (what left it is no deletion, confirm_gone).
  if (c.kind == ItemKind::kAppointment && row.mode == DeltaRow::Mode::kIncremental &&
      ws - row.window >= 7 * kDay) {
    auto link = initial_link(c, ws);
    if (!link) return link.error();
    row = DeltaRow{name, *link, DeltaRow::Mode::kReconcile, row.round + 1, ws};
    CRMSYNC_TRY(state_.save_delta(row));
  }
  const std::size_t max_entries = static_cast<std::size_t>(config_.page_size) * 10 + 100;
  int resets = 0;
  for (int pages = 0; pages < 100'000; ++pages) {
    const std::string link = row.link;
    if (!starts_with_ci(link, client_.mailbox_root()))
      return Error::Invalid("a delta link of another mailbox or service (" + shown(link) +
                            "): refused, nothing written");
    auto reply = client_.call("GET", link, "", CallOptions{true, "", config_.page_size}, {410});
    if (!reply) return reply.error();
    if (reply->status == 410) {
      // syncStateNotFound: the token expired or the server lost it. A full round, compared
      // with the index.
      if (++resets > 2) return Error::Transient("Graph keeps answering syncStateNotFound");
      auto fresh = initial_link(c, ws);
      if (!fresh) return fresh.error();
      row = DeltaRow{name, *fresh, DeltaRow::Mode::kReconcile, row.round + 1, ws};
      CRMSYNC_TRY(state_.save_delta(row));
      continue;
    }
    const Json* value = member(reply->json, "value");
    if (!value || !value->IsArray()) return Error::Invalid("a delta page without value");
    if (value->Size() > max_entries)
      return Error::Invalid("a delta page of " + std::to_string(value->Size()) +
                            " entries, over the " + std::to_string(max_entries) + " allowed");
    const std::string next = text(reply->json, "@odata.nextLink");
    const std::string delta = text(reply->json, "@odata.deltaLink");
    if (next.empty() == delta.empty())
      return Error::Invalid("a delta page needs one of @odata.nextLink and @odata.deltaLink");
    const std::string& new_link = next.empty() ? delta : next;
    if (!starts_with_ci(new_link, client_.mailbox_root()))
      return Error::Invalid("a delta link of another mailbox or service (" + shown(new_link) +
                            "): refused, nothing written");
    // Read the whole page before writing anything.
    std::vector<Entry> entries;
    std::vector<EntryId> to_read;
    for (const auto& v : value->GetArray()) {
      auto e = entity_of(c.kind, v);
      if (!e) return e.error().context("delta page");
      Entry en{std::move(*e), std::nullopt, false, std::nullopt, false};
      // These rounds ask for the link's properties: an entry without them has none (Graph
      // leaves an expansion that matched nothing out). The calendar's cannot ask ($expand is
      // not taken there): its changed entries are read below.
      if (c.kind != ItemKind::kAppointment && !en.e.link && !en.e.removed) en.e.link = CrmLink{};
      const std::string id = entry_of(c.kind, en.e.id);
      auto known = state_.known(id);
      if (!known) return known.error();
      en.known = *known;
      if (c.kind == ItemKind::kAppointment && !en.e.event_type.empty() &&
          en.e.event_type != "singleInstance")
        en.skip = true;  // U5: a series is left out
      const bool changed = !en.known || en.known->change_key != en.e.change_key;
      if (!en.e.removed && !en.skip && changed && !en.e.link) to_read.emplace_back(id);
      if (en.e.link) {
        en.tracked = en.e.link->tracked;
        en.crm_id = en.e.link->crm_id;
      } else if (en.known) {
        en.tracked = en.known->tracked;
        en.crm_id = en.known->crm_id;
      }
      entries.push_back(std::move(en));
    }
    // What the page did not carry (the calendar's link properties) is read in one go.
    if (!to_read.empty()) {
      auto items = get_many(to_read);
      std::map<std::string, Result<StoreItem>> by_id;
      for (std::size_t i = 0; i < to_read.size(); ++i) by_id.emplace(to_read[i].str(), items[i]);
      for (auto& en : entries) {
        auto it = by_id.find(entry_of(c.kind, en.e.id));
        if (it == by_id.end()) continue;
        const auto& item = it->second;
        if (item.ok()) {
          en.tracked = item->link.tracked;
          en.crm_id = item->link.crm_id;
          en.e.change_key = item->change_key;
          en.e.categories = item->categories;
          en.e.modified = item->item.modified;
        } else if (item.error().is(ErrorKind::kNotFound) || item.error().is(ErrorKind::kInvalid)) {
          en.skip = true;  // gone meanwhile (a later round says so), or unreadable (X3)
        } else {
          return item.error();
        }
      }
    }
    const bool done = !delta.empty();
    const bool full = row.mode != DeltaRow::Mode::kIncremental;
    std::vector<std::pair<std::string, Action>> intents;
    std::vector<Known> unseen;
    {
      auto tx = sql::Transaction::begin(state_.db());
      if (!tx) return tx.error();
      // Another connection of this state file followed the same link meanwhile: its events
      // are written; start over from where it left the collection.
      auto current = state_.delta(name);
      if (!current) return current.error();
      if (*current && (*current)->link != link) {
        row = **current;
        continue;
      }
      for (auto& en : entries) {
        const std::string id = entry_of(c.kind, en.e.id);
        if (en.e.removed) {
          auto known = state_.known(id);  // as of this transaction
          if (!known) return known.error();
          if (!*known) continue;  // never known, or our own delete
          CRMSYNC_TRY(state_.forget(id));
          CRMSYNC_TRY(log_event(c.kind, id, Action::kDelete));
          continue;
        }
        if (en.skip) continue;
        auto known = state_.known(id);
        if (!known) return known.error();
        if (*known && (*known)->change_key == en.e.change_key) {  // our own write, or unchanged
          if (full) CRMSYNC_TRY(state_.mark_seen(id, row.round));
          continue;
        }
        Known k;
        k.entry_id = id;
        k.collection = name;
        k.kind = c.kind;
        k.folder = c.folder;
        k.change_key = en.e.change_key;
        k.modified = en.e.modified;
        k.tracked = en.tracked;
        k.crm_id = en.crm_id;
        k.category = track_.present_in(en.e.categories);
        auto intent =
            track_.intent(en.e.categories, en.tracked, *known ? (*known)->category : false);
        if (intent) {
          k.change_key.clear();  // looked at again until the mark is in step
          intents.emplace_back(id, *intent);
        }
        CRMSYNC_TRY(state_.upsert(k, full ? row.round : 0));
        if (intent || (row.mode == DeltaRow::Mode::kBaseline && !*known)) continue;
        CRMSYNC_TRY(log_event(c.kind, id, *known ? Action::kUpdate : Action::kCreate));
      }
      if (done && full) {
        auto gone = state_.unseen(name, row.round);
        if (!gone) return gone.error();
        for (auto& k : *gone) {
          if (c.kind == ItemKind::kAppointment) {
            unseen.push_back(std::move(k));  // out of the window, or deleted: asked below
            continue;
          }
          CRMSYNC_TRY(state_.forget(k.entry_id));
          CRMSYNC_TRY(log_event(c.kind, k.entry_id, Action::kDelete));
        }
      }
      row.link = new_link;
      if (done) row.mode = DeltaRow::Mode::kIncremental;
      CRMSYNC_TRY(state_.save_delta(row));
      if (c.kind == ItemKind::kContact) {
        auto home = state_.meta("folder.contacts");
        if (!home) return home.error();
        if (!*home && !contact_folder_of(new_link).empty())
          CRMSYNC_TRY(state_.set_meta("folder.contacts", contact_folder_of(new_link)));
      }
      CRMSYNC_TRY(tx->commit());
    }
    for (const auto& [id, action] : intents) (void)apply_intent(id, action);
    if (!unseen.empty()) CRMSYNC_TRY(confirm_gone(c, unseen));
    if (done) return Ok();
  }
  return Error::Internal("a delta round never reached its last page");
}

Result<void> GraphStoreImpl::apply_intent(const std::string& entry_id, Action intent) {
  auto f = fetch(EntryId(entry_id));
  if (!f) return f.error();
  StoreItem& item = f->item;
  // As the item is now (another client may have put the mark in step already).
  auto now = track_.intent(item.categories, item.link.tracked, intent == Action::kUntrack);
  if (!now) return state_.upsert(known_of(item, track_));
  auto patch = mark_patch(item, *now == Action::kTrack, ctx_);
  if (!patch) return patch.error();
  auto written = write_patch(item.entry_id, item, f->json, *patch);
  if (!written) return written.error();
  item.change_key = written->change_key;
  item.item.modified = written->modified;
  if (*now == Action::kUntrack) item.link = CrmLink{};
  item.link.tracked = *now == Action::kTrack;
  if (item.link.tracked) (void)ensure_master_category();
  auto tx = sql::Transaction::begin(state_.db());
  if (!tx) return tx.error();
  CRMSYNC_TRY(state_.upsert(known_of(item, track_)));
  // U1: a category is the explorer's "Track in CRM".
  CRMSYNC_TRY(log_event(item.item.kind, entry_id, *now, Surface::kExplorer));
  return tx->commit();
}

Result<void> GraphStoreImpl::confirm_gone(const Collection& c, const std::vector<Known>& unseen) {
  for (const auto& k : unseen) {
    auto f = fetch(EntryId(k.entry_id));
    if (f.ok() || !f.error().is(ErrorKind::kNotFound)) continue;  // left the window: kept
    auto tx = sql::Transaction::begin(state_.db());
    if (!tx) return tx.error();
    CRMSYNC_TRY(state_.forget(k.entry_id));
    CRMSYNC_TRY(log_event(c.kind, k.entry_id, Action::kDelete));
    CRMSYNC_TRY(tx->commit());
  }
  return Ok();
}

}  // namespace crmsync::graph
