// Reading and writing one item: URLs by kind, the mailbox's folder ids, creates that stay
// single across lost replies (X1), conditional PATCHes (If-Match), and the index entry and
// event of each of the daemon's own writes (C5).
#include <algorithm>

#include "store.hpp"

namespace crmsync::graph {

const Collection& collection_of(Folder f) {
  for (const auto& c : kCollections)
    if (c.folder == f) return c;
  return kCollections[0];
}

Known known_of(const StoreItem& item, const TrackCategory& track) {
  Known k;
  k.entry_id = item.entry_id.str();
  k.collection = std::string(collection_of(item.folder).name);
  k.kind = item.item.kind;
  k.folder = item.folder;
  k.change_key = item.change_key;
  k.modified = item.item.modified;
  k.tracked = item.link.tracked;
  k.crm_id = item.link.crm_id;
  k.category = track.present_in(item.categories);
  return k;
}

std::string entry_of(ItemKind kind, std::string_view graph_id) {
  return std::string(to_string(kind)) + ":" + std::string(graph_id);
}

std::optional<std::pair<ItemKind, std::string>> split_entry(const EntryId& id) {
  const std::string& s = id.str();
  auto colon = s.find(':');
  if (colon == std::string::npos || colon + 1 >= s.size()) return std::nullopt;
  auto kind = parse_item_kind(s.substr(0, colon));
  if (!kind) return std::nullopt;
  return std::pair<ItemKind, std::string>(*kind, s.substr(colon + 1));
}

GraphStoreImpl::GraphStoreImpl(const GraphStoreConfig& config, Zone zone, Clock& clock,
                               std::unique_ptr<http::Transport> transport, State state)
    : config_(config),
      zone_(std::move(zone)),
      track_(config.track_category),
      clock_(clock),
      client_(config, clock, std::move(transport)),
      state_(std::move(state)) {
  ctx_.zone = &zone_;
  ctx_.track = &track_;
  poll_interval_ = config_.poll_min;
}

Result<void> GraphStoreImpl::resolve() {
  if (resolved_) return Ok();
  // The mailbox the token reaches must be the one whose state this file holds: another's
  // delta links and items would otherwise be taken for this one's.
  auto me = client_.call(
      "GET",
      client_.url("").substr(0, client_.url("").size() - 1) + "?$select=id,userPrincipalName", "");
  if (!me) return me.error().context("Graph mailbox");
  std::string id = text(me->json, "id");
  if (id.empty()) return Error::Invalid("Graph mailbox: the answer names no user id");
  auto known_id = state_.meta("mailbox_id");
  if (!known_id) return known_id.error();
  if (*known_id && **known_id != id)
    return Error::Corrupt("the Graph state file belongs to mailbox user " + **known_id +
                          "; the token signs in as " + id +
                          " (another mailbox: use another "
                          "state_path)");
  if (!*known_id) CRMSYNC_TRY(state_.set_meta("mailbox_id", id));
  for (Folder f : {Folder::kInbox, Folder::kSentItems, Folder::kDrafts}) {
    const std::string key = "folder." + std::string(to_string(f));
    auto stored = state_.meta(key);
    if (!stored) return stored.error();
    if (!*stored) {
      auto r = client_.call(
          "GET", client_.url("mailFolders/" + std::string(to_string(f)) + "?$select=id"), "");
      if (!r) return r.error().context("mail folder " + std::string(to_string(f)));
      std::string fid = text(r->json, "id");
      if (fid.empty())
        return Error::Invalid("mail folder " + std::string(to_string(f)) + ": no id");
      CRMSYNC_TRY(state_.set_meta(key, fid));
      stored = std::optional<std::string>(fid);
    }
    folder_ids_[f] = **stored;
  }
  auto list = state_.meta("tasklist");
  if (!list) return list.error();
  if (!*list) {
    auto r = client_.call("GET", client_.url("todo/lists"), "");
    if (!r) return r.error().context("To Do lists");
    const Json* value = member(r->json, "value");
    if (!value || !value->IsArray()) return Error::Invalid("To Do lists: no value");
    for (const auto& l : value->GetArray())
      if (text(l, "wellknownListName") == "defaultList") list = std::optional(text(l, "id"));
    if (!*list || (*list)->empty()) return Error::Invalid("To Do: no default task list");
    CRMSYNC_TRY(state_.set_meta("tasklist", **list));
  }
  task_list_ = **list;
  resolved_ = true;
  return Ok();
}

std::string GraphStoreImpl::item_url(ItemKind kind, std::string_view gid) const {
  const std::string id = url_encode(gid);
  switch (kind) {
    case ItemKind::kContact:
      return client_.url("contacts/" + id);
    case ItemKind::kTask:
      return client_.url("todo/lists/" + url_encode(task_list_) + "/tasks/" + id);
    case ItemKind::kAppointment:
      return client_.url("events/" + id);
    case ItemKind::kEmail:
      return client_.url("messages/" + id);
  }
  return {};
}

std::string GraphStoreImpl::read_url(ItemKind kind, std::string_view gid) const {
  return item_url(kind, gid) + "?$expand=" + url_encode(expand_of(kind));
}

std::string GraphStoreImpl::create_url(Folder folder) const {
  switch (folder) {
    case Folder::kContacts:
      return client_.url("contacts");
    case Folder::kTasks:
      return client_.url("todo/lists/" + url_encode(task_list_) + "/tasks");
    case Folder::kCalendar:
      return client_.url("calendar/events");
    default:
      return client_.url("mailFolders/" + std::string(to_string(folder)) + "/messages");
  }
}

Result<StoreItem> GraphStoreImpl::item_from(ItemKind kind, const Json& entity) {
  Folder folder = default_folder(kind);
  const std::string id = text(entity, "id");
  if (kind == ItemKind::kEmail) {
    const std::string parent = text(entity, "parentFolderId");
    auto it = std::find_if(folder_ids_.begin(), folder_ids_.end(),
                           [&](const auto& f) { return f.second == parent; });
    if (it == folder_ids_.end())
      return Error::NotFound("message " + id + " is not in the Inbox, Sent Items or Drafts");
    folder = it->first;
  }
  if (kind == ItemKind::kContact) {
    // A deleted contact lives on in Deleted Items: outside the default folder it is gone.
    auto home = state_.meta("folder.contacts");
    if (!home) return home.error();
    const std::string parent = text(entity, "parentFolderId");
    if (*home && !parent.empty() && parent != **home)
      return Error::NotFound("contact " + id + " is not in the default contacts folder");
  }
  auto item = item_of(kind, entity, folder, ctx_);
  if (!item) return item.error();
  item->entry_id = EntryId(entry_of(kind, id));
  return item;
}

Result<GraphStoreImpl::Fetched> GraphStoreImpl::fetch(const EntryId& id) {
  auto split = split_entry(id);
  if (!split) return Error::NotFound("item " + id.str() + ": not a Graph item id");
  CRMSYNC_TRY(resolve());
  auto r = client_.call("GET", read_url(split->first, split->second), "");
  if (!r) {
    // Graph answers a malformed id with 400: no such item either.
    if (r.error().is(ErrorKind::kInvalid) &&
        r.error().message().find("ErrorInvalidIdMalformed") != std::string::npos)
      return Error::NotFound("item " + id.str() + ": " + r.error().message());
    return r.error().context("item " + id.str());
  }
  auto item = item_from(split->first, r->json);
  if (!item) return item.error();
  return Fetched{std::move(*item), std::move(r->json)};
}

Result<StoreItem> GraphStoreImpl::create_one(const NewStoreItem& n) {
  auto body = create_body(n, ctx_);
  if (!body) return body.error();
  CRMSYNC_TRY(resolve());
  const std::string payload = serialize(*body);
  const Collection& c = collection_of(n.folder);
  Result<Reply> r = Error::Internal("");
  for (int attempt = 0; attempt < 2; ++attempt) {
    r = client_.call("POST", create_url(n.folder), payload, CallOptions{false, "", 0});
    if (r.ok() || !r.error().retryable()) break;
    // The reply was lost: the server may have made it. Events carry transactionId (a second
    // POST answers with the first event); the others are looked up by their CRM id first.
    if (n.item.kind == ItemKind::kAppointment) continue;
    if (!n.link.crm_id) break;  // nothing to look it up by: never risk a second copy
    CRMSYNC_TRY(sync_collection(c));
    auto found = state_.by_crm_id(*n.link.crm_id);
    if (!found) return found.error();
    if (!found->empty()) return get(EntryId(found->front()));
  }
  if (!r) return r.error().context("create a " + std::string(to_string(n.item.kind)));
  return created(n, r->json);
}

Result<StoreItem> GraphStoreImpl::created(const NewStoreItem& n, const Json& answer) {
  auto item = item_from(n.item.kind, answer);
  if (!item) return item.error().context("the created " + std::string(to_string(n.item.kind)));
  // The answer leaves out extended properties: what was sent is what the item holds.
  item->link = n.link;
  for (const auto& [name, value] : n.item.fields)
    if (in_props(n.item.kind, name)) {
      if (is_null(value) ||
          (std::holds_alternative<std::string>(value) && std::get<std::string>(value).empty()))
        item->item.fields.erase(name);
      else
        item->item.fields[name] = value;
    }
  if (n.link.tracked) (void)ensure_master_category();
  CRMSYNC_TRY(record(*item, Action::kCreate));
  return item;
}

Result<void> GraphStoreImpl::record(const StoreItem& item, Action action, Surface surface) {
  auto tx = sql::Transaction::begin(state_.db());
  if (!tx) return tx.error();
  if (action == Action::kDelete)
    CRMSYNC_TRY(state_.forget(item.entry_id.str()));
  else
    CRMSYNC_TRY(state_.upsert(known_of(item, track_)));
  CRMSYNC_TRY(log_event(item.item.kind, item.entry_id.str(), action, surface));
  CRMSYNC_TRY(tx->commit());
  // The user may answer a write soon: look again in seconds rather than minutes.
  poll_interval_ = config_.poll_min;
  next_poll_ = std::min(next_poll_, std::chrono::steady_clock::now() + config_.poll_min);
  return Ok();
}

Result<std::int64_t> GraphStoreImpl::log_event(ItemKind kind, const std::string& entry_id,
                                               Action action, Surface surface) {
  StoreEvent e;
  e.kind = kind;
  e.entry_id = EntryId(entry_id);
  e.action = action;
  e.surface = surface;
  e.at = clock_.now();
  return state_.append(e);
}

Result<void> GraphStoreImpl::ensure_master_category() {
  if (master_category_ok_ || !track_.enabled()) return Ok();
  auto list = client_.call("GET", client_.url("outlook/masterCategories"), "");
  if (!list) return list.error();
  if (const Json* value = member(list->json, "value"); value && value->IsArray())
    for (const auto& c : value->GetArray())
      if (track_.present_in({text(c, "displayName")})) {
        master_category_ok_ = true;
        return Ok();
      }
  Doc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  put(d, "displayName", str(track_.name(), a), a);
  put(d, "color", str("preset7", a), a);  // blue (preset7), as the EWS and MAPI lists have it
  auto made = client_.call("POST", client_.url("outlook/masterCategories"), serialize(d),
                           CallOptions{false, "", 0}, {409});
  if (!made) return made.error();
  master_category_ok_ = true;  // 201, or 409: another client made it meanwhile
  return Ok();
}

Result<GraphStoreImpl::Written> GraphStoreImpl::write_patch(const EntryId& id,
                                                            const StoreItem& current,
                                                            const Json& raw, const Patch& patch) {
  auto split = split_entry(id);
  if (!split) return Error::NotFound("item " + id.str());
  std::string key = current.change_key;
  std::optional<UtcTime> modified;
  auto conflict = [&](const Error& e) {
    return e.is(ErrorKind::kConflict)
               ? Error::Conflict("item " + id.str() + " changed since it was read")
               : e.context("item " + id.str());
  };
  if (patch.body.MemberCount() > 0) {
    auto r = client_.call("PATCH", item_url(split->first, split->second), serialize(patch.body),
                          CallOptions{true, key, 0});
    if (!r) return conflict(r.error());
    std::string next = r->json.IsObject() ? text(r->json, "@odata.etag") : "";
    if (next.empty() && r->json.IsObject()) next = text(r->json, "changeKey");
    if (next.empty()) next = r->header("ETag");
    key = next;
    if (auto t = UtcTime::parse(r->json.IsObject() ? text(r->json, "lastModifiedDateTime") : "");
        t.ok())
      modified = *t;
  }
  if (patch.linked) {
    const std::string base = item_url(split->first, split->second) + "/linkedResources";
    const std::string lr = linked_resource_id(raw);
    auto r = lr.empty()
                 ? client_.call("POST", base, serialize(*patch.linked), CallOptions{false, "", 0})
                 : client_.call("PATCH", base + "/" + url_encode(lr), serialize(*patch.linked));
    if (!r) return conflict(r.error());
    key.clear();  // the task changed with its linked resource: read its new tag below
  }
  if (key.empty() || !modified) {
    auto again = fetch(id);
    if (!again) return again.error();
    key = again->item.change_key;
    modified = again->item.item.modified;
  }
  return Written{key, *modified};
}

}  // namespace crmsync::graph
