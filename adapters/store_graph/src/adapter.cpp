// The StoreAdapter methods of the Graph adapter, and open_graph_store. Scans and look-ups by
// CRM id answer from the index of known items, which a delta round of every collection brings
// up to date first: a scan costs the delta requests and the reads of what changed, not a
// listing of the mailbox.
#include <algorithm>
#include <thread>

#include "store.hpp"

namespace crmsync {
namespace graph {

Result<std::vector<StoreItemHeader>> GraphStoreImpl::scan_headers_since(ItemKind kind,
                                                                        UtcTime since) {
  // The kind's own collections only: the engine scans kind after kind.
  CRMSYNC_TRY(resolve());
  for (const auto& c : kCollections)
    if (c.kind == kind)
      if (auto r = sync_collection(c); !r) return r.error().context("delta " + std::string(c.name));
  auto known = state_.modified_since(kind, since);
  if (!known) return known.error();
  std::vector<StoreItemHeader> out;
  out.reserve(known->size());
  for (const auto& k : *known)
    out.push_back(StoreItemHeader{EntryId(k.entry_id), k.change_key, k.modified, k.tracked});
  return out;
}

Result<std::vector<StoreItem>> GraphStoreImpl::scan_modified_since(ItemKind kind, UtcTime since) {
  auto headers = scan_headers_since(kind, since);
  if (!headers) return headers.error();
  std::vector<EntryId> ids;
  for (const auto& h : *headers) ids.push_back(h.entry_id);
  std::vector<StoreItem> out;
  for (auto& it : get_many(ids)) {
    if (it.ok()) {
      if (it->item.modified >= since) out.push_back(std::move(*it));
    } else if (!it.error().is(ErrorKind::kNotFound) && !it.error().is(ErrorKind::kInvalid)) {
      return it.error();
    }
    // Gone meanwhile, or malformed (get() reports that item, X3), or a series (U5).
  }
  std::stable_sort(out.begin(), out.end(), [](const StoreItem& a, const StoreItem& b) {
    return a.item.modified > b.item.modified;
  });
  return out;
}

Result<StoreItem> GraphStoreImpl::get(const EntryId& id) {
  auto f = fetch(id);
  if (!f) return f.error();
  return std::move(f->item);
}

Result<std::optional<StoreItem>> GraphStoreImpl::find_by_crm_id(const CrmId& id) {
  return std::move(find_by_crm_ids({id}).front());
}

std::vector<Result<std::optional<StoreItem>>> GraphStoreImpl::find_by_crm_ids(
    const std::vector<CrmId>& ids) {
  std::vector<Result<std::optional<StoreItem>>> out;
  if (ids.empty()) return out;
  // The index answers once a delta round has seen what every client made (a create whose
  // reply was lost included).
  if (auto r = sync_all(); !r.ok()) {
    for (std::size_t i = 0; i < ids.size(); ++i) out.emplace_back(r.error());
    return out;
  }
  std::vector<std::vector<std::string>> candidates;
  std::vector<EntryId> to_read;
  for (const auto& id : ids) {
    auto found = state_.by_crm_id(id);
    candidates.push_back(found ? *found : std::vector<std::string>());
    for (const auto& e : candidates.back()) to_read.emplace_back(e);
  }
  auto items = get_many(to_read);
  std::map<std::string, Result<StoreItem>> by_id;
  for (std::size_t i = 0; i < to_read.size(); ++i) by_id.emplace(to_read[i].str(), items[i]);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Result<std::optional<StoreItem>> r{std::optional<StoreItem>()};
    for (const auto& e : candidates[i]) {
      const auto& one = by_id.at(e);
      if (one.ok() && one->link.crm_id == ids[i]) {
        r = std::optional<StoreItem>(*one);
        break;
      }
      if (!one.ok() && !one.error().is(ErrorKind::kNotFound)) {
        r = one.error();
        break;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<StoreItem> GraphStoreImpl::create(const NewStoreItem& item) {
  return std::move(create_many({item}).front());
}

Result<std::string> GraphStoreImpl::update(const EntryId& id, const std::string& expected,
                                           const FieldMap& changes,
                                           const std::optional<CrmLink>& link) {
  auto f = fetch(id);
  if (!f) return f.error();
  StoreItem& current = f->item;
  if (current.change_key != expected)
    return Error::Conflict("item " + id.str() + " changed since it was read");
  auto patch = patch_of(current, changes, link, ctx_);
  if (!patch) return patch.error();
  if (patch->body.MemberCount() == 0 && !patch->linked) return current.change_key;
  auto written = write_patch(id, current, f->json, *patch);
  if (!written) return written.error();
  StoreItem after = current;
  after.change_key = written->change_key;
  after.item.modified = written->modified;
  if (link) after.link = *link;
  if (link)
    if (auto cats = track_.in_step(current.categories, link->tracked)) after.categories = *cats;
  if (after.link.tracked) (void)ensure_master_category();
  CRMSYNC_TRY(record(after, Action::kUpdate));
  return written->change_key;
}

Result<void> GraphStoreImpl::remove(const EntryId& id) {
  auto split = split_entry(id);
  if (!split) return Error::NotFound("item " + id.str() + ": not a Graph item id");
  CRMSYNC_TRY(resolve());
  auto known = state_.known(id.str());
  if (!known) return known.error();
  auto r = client_.call("DELETE", item_url(split->first, split->second), "");
  if (!r) {
    if (r.error().is(ErrorKind::kInvalid) &&
        r.error().message().find("ErrorInvalidIdMalformed") != std::string::npos)
      return Error::NotFound("item " + id.str());
    return r.error().context("item " + id.str());
  }
  StoreItem gone;
  gone.entry_id = id;
  gone.item.kind = split->first;
  gone.folder = *known ? (*known)->folder : default_folder(split->first);
  return record(gone, Action::kDelete);
}

Result<std::vector<StoreEvent>> GraphStoreImpl::events_after(std::int64_t after, std::size_t max) {
  CRMSYNC_TRY(sync_all());
  return state_.log().after(after, max);
}

// Graph's change notifications are webhooks: they need an HTTPS endpoint the service can reach
// from the internet, which a desktop daemon behind NAT does not have, and v1.0 has no pull or
// streaming notifications. So the delta links are polled: poll_min after a change was seen or
// written (the user is at work), doubling to poll_max while nothing changes. Waiting is only an
// optimisation: the scans (S2) catch whatever a wait would have said.
bool GraphStoreImpl::wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) {
  using Steady = std::chrono::steady_clock;
  const auto deadline = Steady::now() + timeout;
  auto newer = [&] {
    auto top = state_.log().last_seq();
    return top.ok() && *top > after;
  };
  for (;;) {
    if (newer()) return true;
    if (Steady::now() >= next_poll_) {
      auto before = state_.log().last_seq();
      const bool ok = sync_all().ok();
      auto now_seq = state_.log().last_seq();
      const bool changed = before.ok() && now_seq.ok() && *now_seq > *before;
      poll_interval_ =
          changed || !ok ? config_.poll_min : std::min(poll_interval_ * 2, config_.poll_max);
      next_poll_ = Steady::now() + poll_interval_;
      if (newer()) return true;
    }
    const auto now = Steady::now();
    if (now >= deadline) return false;
    // Another connection of the same state file may log an event meanwhile: look every 50 ms.
    auto until = std::min({deadline, next_poll_, now + std::chrono::milliseconds(50)});
    std::this_thread::sleep_for(until - now);
  }
}

Result<std::int64_t> GraphStoreImpl::record_decision(const StoreEvent& decision) {
  if (decision.action != Action::kTrack && decision.action != Action::kUntrack &&
      decision.action != Action::kSetRegarding)
    return Error::Invalid("Graph store: a decision is track, untrack or set-regarding, not " +
                          std::string(to_string(decision.action)));
  auto f = fetch(decision.entry_id);
  if (!f) return f.error();
  if (decision.action == Action::kTrack || decision.action == Action::kUntrack) {
    const bool tracked = decision.action == Action::kTrack;
    auto patch = mark_patch(f->item, tracked, ctx_);
    if (!patch) return patch.error();
    if (patch->body.MemberCount() > 0 || patch->linked) {
      auto written = write_patch(decision.entry_id, f->item, f->json, *patch);
      if (!written) return written.error();
      f->item.change_key = written->change_key;
      f->item.item.modified = written->modified;
      if (!tracked) f->item.link = CrmLink{};
      f->item.link.tracked = tracked;
      if (auto cats = track_.in_step(f->item.categories, tracked)) f->item.categories = *cats;
      if (tracked) (void)ensure_master_category();
    }
  }
  auto tx = sql::Transaction::begin(state_.db());
  if (!tx) return tx.error();
  CRMSYNC_TRY(state_.upsert(known_of(f->item, track_)));
  StoreEvent e = decision;
  e.kind = f->item.item.kind;
  e.surface = Surface::kExplorer;  // U2: the CLI stands for the explorer's buttons
  e.phase = Phase::kNone;
  e.at = clock_.now();
  auto seq = state_.append(e);
  if (!seq) return seq.error();
  CRMSYNC_TRY(tx->commit());
  return *seq;
}

}  // namespace graph

namespace {

Result<void> check_config(const GraphStoreConfig& c) {
  auto url = http::Url::parse(c.url);
  if (!url) return Error::Invalid("Graph url: " + url.error().message());
  if (c.user.empty() || c.user.size() > 320 ||
      c.user.find_first_of("/?#\\ \t\r\n") != std::string::npos)
    return Error::Invalid("Graph user: \"me\" or the mailbox's user principal name");
  if (c.state_path.empty()) return Error::Invalid("Graph state_path is required");
  if (c.auth.type == GraphAuth::Type::kBearer && c.auth.token_file.empty())
    return Error::Invalid("Graph bearer auth needs token_file");
  if (c.auth.type == GraphAuth::Type::kDeviceCode &&
      (c.auth.tenant.empty() || c.auth.client_id.empty() || c.auth.scope.empty() ||
       c.auth.token_store.empty()))
    return Error::Invalid(
        "Graph device_code auth needs tenant, client_id, scope and a token store");
  if (c.page_size < 1 || c.page_size > 1000) return Error::Invalid("Graph page_size: 1..1000");
  if (c.batch_size < 1 || c.batch_size > 20) return Error::Invalid("Graph batch_size: 1..20");
  if (c.calendar_past_days < 0 || c.calendar_future_days < 1 || c.calendar_past_days > 3650 ||
      c.calendar_future_days > 3650)
    return Error::Invalid("Graph calendar window: 0..3650 days back, 1..3650 ahead");
  if (c.poll_min.count() <= 0 || c.poll_max < c.poll_min)
    return Error::Invalid("Graph polling: 0 < poll_min <= poll_max");
  if (auto t = TrackCategory::from_config(c.track_category); !t) return t.error();
  return Ok();
}

}  // namespace

Result<std::unique_ptr<GraphStore>> open_graph_store(const GraphStoreConfig& config, Clock& clock,
                                                     std::unique_ptr<http::Transport> transport) {
  CRMSYNC_TRY(check_config(config));
  auto zone = graph::Zone::open(config.time_zone);
  if (!zone) return zone.error().context("Graph events");
  auto state = graph::State::open(config.state_path, config.url + "|" + config.user);
  if (!state) return state.error();
  GraphStoreConfig c = config;
  c.track_category = TrackCategory::from_config(config.track_category)->name();
  return std::unique_ptr<GraphStore>(new graph::GraphStoreImpl(
      c, std::move(*zone), clock, std::move(transport), std::move(*state)));
}

Result<std::unique_ptr<GraphStore>> open_graph_store(const GraphStoreConfig& config, Clock& clock) {
  CRMSYNC_TRY(check_config(config));
  http::ClientOptions options;
  options.ca_file = config.ca_file;
  options.connect_timeout = config.connect_timeout;
  options.io_timeout = config.request_timeout;
  options.max_response_bytes = config.max_response_bytes;
  options.user_agent = "crmsync-graph";
  return open_graph_store(config, clock, std::make_unique<http::Client>(options));
}

}  // namespace crmsync
