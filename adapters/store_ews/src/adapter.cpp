// The EWS StoreAdapter: requests through crmsync_http, retries with backoff honouring
// BackOffMilliseconds, a SyncFolderItems-based change log kept in the adapter's own SQLite
// state file, a pull subscription for waiting, and the lease and handoff queue as hidden
// items in the mailbox's root folder.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "codec.hpp"
#include "crmsync/core/change_log.hpp"
#include "crmsync/core/lease.hpp"
#include "crmsync/core/sqlite.hpp"
#include "crmsync/http/credentials.hpp"
#include "crmsync/model/encoding.hpp"
#include "crmsync/store_ews/ews_store.hpp"
#include "zone.hpp"

namespace crmsync {
namespace {

using namespace std::chrono_literals;
using ews::ItemRef;
using ews::Message;

constexpr int kStateVersion = 1;

Result<std::string> read_secret(const std::string& path, std::string_view what) {
  return http::read_secret_file(path, "EWS " + std::string(what));
}

std::string_view action_text(Action a) {
  return to_string(a);
}

// The hidden items' named properties.
const std::vector<std::string> kLeaseProps = {"LeaseHolder", "LeaseEpoch", "LeaseExpires"};
const std::vector<std::string> kQueueProps = {"QueueClient", "QueueKind",   "QueueEntryId",
                                              "QueueAction", "QueueDelete", "QueueAt",
                                              "QueueSeq"};

std::string prop(const ews::Props& props, std::string_view name) {
  for (const auto& [n, v] : props)
    if (n == name) return v;
  return {};
}

class EwsStore final : public StoreAdapter, public LeaseStore, public HandoffQueue {
 public:
  EwsStore(EwsStoreConfig config, std::string zone_id, Clock& clock,
           std::unique_ptr<http::Transport> transport, sql::Database db)
      : config_(std::move(config)),
        zone_id_(std::move(zone_id)),
        clock_(clock),
        transport_(std::move(transport)),
        db_(std::move(db)) {}

  // ------------------------------------------------------------ StoreAdapter

  Result<std::vector<StoreItem>> scan_modified_since(ItemKind kind, UtcTime since) override {
    std::vector<StoreItem> out;
    for (Folder f : ews::folders_of(kind)) {
      std::vector<EntryId> ids;
      CRMSYNC_TRY(find_modified(f, since, false, [&](const ews::RawItem& raw) -> Result<void> {
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
    for (Folder f : ews::folders_of(kind))
      CRMSYNC_TRY(find_modified(f, since, true, [&](const ews::RawItem& raw) -> Result<void> {
        auto h = ews::header_of(raw, f);
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
    auto msgs = call("GetItem", ews::get_items({id.str()}, true), true);
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
      auto msgs = call("GetItem", ews::get_items(chunk, true), true);
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
    const std::vector<Folder> folders(std::begin(ews::kAllFolders), std::end(ews::kAllFolders));
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
    auto body = ews::update_item(ews::kind_of_folder(folder),
                                 ItemRef{id.str(), expected_change_key}, changes, link, zone_id_);
    if (!body) return body.error();
    if (body->empty()) return raw.ref.change_key;  // only read-only fields (Organizer, Duration)
    auto msgs = call("UpdateItem", *body, true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    const soap::Element* items = m.element.child(ews::kMNs, "Items");
    if (!items) return Error::Invalid("UpdateItem reply without Items");
    auto updated = ews::items_of(*items);
    if (!updated) return updated.error();
    if (updated->size() != 1 || updated->front().ref.change_key.empty())
      return Error::Invalid("UpdateItem reply without the new ChangeKey");
    ItemRef ref{id.str(), updated->front().ref.change_key};
    CRMSYNC_TRY(record(folder, ref, Action::kUpdate));
    return ref.change_key;
  }

  Result<void> remove(const EntryId& id) override {
    auto probe = probe_item(id);
    if (!probe) return probe.error();
    auto& [raw, folder] = *probe;
    auto msgs =
        call("DeleteItem", ews::delete_item(id.str(), ews::kind_of_folder(folder), false), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    return record(folder, ItemRef{id.str(), ""}, Action::kDelete);
  }

  Result<std::vector<StoreEvent>> events_after(std::int64_t after, std::size_t max) override {
    CRMSYNC_TRY(sync_all());
    return local_events(after, max);
  }

  // Streaming notifications wake the wait as soon as the server sends an event; a server that
  // refuses streaming is polled through a pull subscription every poll_interval instead. A
  // zero timeout reads what has arrived without blocking (the daemon asks that often).
  bool wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) override {
    using Steady = std::chrono::steady_clock;
    const auto deadline = Steady::now() + timeout;
    auto left = [&] {
      return std::max(
          0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()));
    };
    for (;;) {
      if (auto top = max_seq(); top.ok() && *top > after) return true;
      if (streaming_refused_) {
        if (Steady::now() >= next_poll_) {
          next_poll_ = Steady::now() + config_.poll_interval;
          poll_notifications();
        }
      } else {
        follow_stream(left());
      }
      if (auto top = max_seq(); top.ok() && *top > after) return true;
      if (left() <= 0ms) return false;
      if (streaming_refused_)
        std::this_thread::sleep_for(std::min(
            left(),
            std::chrono::duration_cast<std::chrono::milliseconds>(next_poll_ - Steady::now()) +
                1ms));
    }
  }

  // U2: until decisions land in this store (the store helper replaces this line).
  Result<std::int64_t> record_decision(const StoreEvent&) override {
    return Error::Invalid("EWS store: decisions not supported yet");
  }

  LeaseStore* lease_store() override { return this; }
  HandoffQueue* handoff_queue() override { return this; }

  // ------------------------------------------------------------ LeaseStore

  Result<Versioned> read_lease() override {
    auto items = hidden_items(ews::kLeaseClass, kLeaseProps);
    if (!items) return items.error();
    Versioned v;
    if (items->empty()) return v;
    const Hidden& h = items->front();
    v.version = h.ref.id + "|" + h.ref.change_key;
    v.record.holder = prop(h.props, "LeaseHolder");
    std::string epoch = prop(h.props, "LeaseEpoch");
    if (!epoch.empty()) {
      char* end = nullptr;
      v.record.epoch = std::strtoll(epoch.c_str(), &end, 10);
      if (!end || *end) return Error::Invalid("lease item: bad epoch '" + epoch + "'");
    }
    std::string expires = prop(h.props, "LeaseExpires");
    if (!expires.empty()) {
      auto t = UtcTime::parse(expires);
      if (!t) return Error::Invalid("lease item: bad expiry '" + expires + "'");
      v.record.expires = *t;
    }
    return v;
  }

  Result<std::string> write_lease(const std::string& expected_version,
                                  const LeaseRecord& next) override {
    ews::Props props = {{"LeaseHolder", next.holder},
                        {"LeaseEpoch", std::to_string(next.epoch)},
                        {"LeaseExpires", next.expires.iso()}};
    if (expected_version.empty()) {
      auto existing = hidden_items(ews::kLeaseClass, kLeaseProps);
      if (!existing) return existing.error();
      if (!existing->empty()) return Error::Conflict("a lease item exists already");
      auto ref = create_hidden(ews::kLeaseClass, props);
      if (!ref) return ref.error();
      // EWS has no create-if-absent. A creator wins only when, reading after its create, it
      // finds its item alone: of two racing creators the later reader sees both (reads follow
      // creates), so at most one wins; when both see both, both withdraw and retry later.
      auto all = hidden_items(ews::kLeaseClass, kLeaseProps);
      if (!all) return all.error();
      if (all->size() != 1 || all->front().ref.id != ref->id) {
        (void)call("DeleteItem", ews::delete_item(ref->id, ItemKind::kEmail, true), true);
        return Error::Conflict("another client created a lease item at the same time");
      }
      return ref->id + "|" + ref->change_key;
    }
    auto bar = expected_version.find('|');
    if (bar == std::string::npos) return Error::Invalid("not a lease version: " + expected_version);
    ItemRef ref{expected_version.substr(0, bar), expected_version.substr(bar + 1)};
    auto msgs = call("UpdateItem", ews::update_hidden(ref, props), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) {
      Error e = ews::error_of(m);
      if (e.is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
      return e.context("lease");
    }
    const soap::Element* items = m.element.child(ews::kMNs, "Items");
    auto updated =
        items ? ews::items_of(*items)
              : Result<std::vector<ews::RawItem>>(Error::Invalid("UpdateItem without Items"));
    if (!updated) return updated.error();
    if (updated->size() != 1) return Error::Invalid("UpdateItem reply without one item");
    return ref.id + "|" + updated->front().ref.change_key;
  }

  // ------------------------------------------------------------ HandoffQueue

  Result<void> enqueue(const QueuedChange& c) override {
    const std::int64_t seq = clock_.now().ms * 1000 + (queue_counter_++ % 1000);
    char seq_text[32];
    std::snprintf(seq_text, sizeof seq_text, "%020lld", static_cast<long long>(seq));
    ews::Props props = {{"QueueClient", c.client_id},
                        {"QueueKind", std::string(to_string(c.kind))},
                        {"QueueEntryId", c.entry_id.str()},
                        {"QueueAction", std::string(action_text(c.action))},
                        {"QueueDelete", c.delete_in_crm ? "true" : "false"},
                        {"QueueAt", c.at.iso()},
                        {"QueueSeq", seq_text}};
    for (const auto& p : props)
      if (!soap::is_xml_text(p.second))
        return Error::Invalid("queued change: text XML cannot carry");
    auto ref = create_hidden(ews::kQueueClass, props);
    if (!ref) return ref.error();
    return Ok();
  }

  Result<std::vector<QueuedChange>> peek(std::size_t max) override {
    auto items = hidden_items(ews::kQueueClass, kQueueProps);
    if (!items) return items.error();
    std::vector<QueuedChange> out;
    for (const Hidden& h : *items) {
      if (out.size() >= max) break;
      QueuedChange c;
      c.id = h.ref.id;
      c.client_id = prop(h.props, "QueueClient");
      auto kind = parse_item_kind(prop(h.props, "QueueKind"));
      auto action = parse_action(prop(h.props, "QueueAction"));
      auto at = UtcTime::parse(prop(h.props, "QueueAt"));
      if (!kind || !action || !at)
        return Error::Invalid("handoff queue item " + h.ref.id + ": malformed properties");
      c.kind = *kind;
      c.action = *action;
      c.at = *at;
      c.entry_id = EntryId(prop(h.props, "QueueEntryId"));
      c.delete_in_crm = prop(h.props, "QueueDelete") == "true";
      out.push_back(std::move(c));
    }
    return out;
  }

  Result<void> remove(const std::string& id) override {
    auto msgs = call("DeleteItem", ews::delete_item(id, ItemKind::kEmail, true), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) {
      if (m.code == "ErrorInvalidIdMalformed") return Error::NotFound("queue entry " + id);
      return ews::error_of(m).context("queue entry " + id);
    }
    return Ok();
  }

  Result<std::int64_t> depth() override {
    auto msgs = call("FindItem", ews::find_hidden(ews::kQueueClass, {}, 0, 1), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return ews::error_of(m).context("queue depth");
    auto page = ews::find_page_of(m);
    if (!page) return page.error();
    return static_cast<std::int64_t>(page->total);
  }

 private:
  // ------------------------------------------------------------ transport

  // The POST of one operation, without its Authorization (read per attempt).
  http::Request soap_request(std::string_view op, const std::string& operation) const {
    http::Request req;
    req.method = "POST";
    req.url = config_.url;
    req.body = ews::envelope(operation, config_.impersonate ? config_.mailbox : std::string());
    req.headers.emplace_back("Content-Type", "text/xml; charset=utf-8");
    req.headers.emplace_back(
        "SOAPAction",
        "\"http://schemas.microsoft.com/exchange/services/2006/messages/" + std::string(op) + "\"");
    if (!config_.mailbox.empty()) req.headers.emplace_back("X-AnchorMailbox", config_.mailbox);
    return req;
  }

  Result<std::vector<Message>> call(std::string_view op, const std::string& operation,
                                    bool may_repeat) {
    const http::Request req = soap_request(op, operation);
    std::chrono::milliseconds backoff = config_.backoff_base;
    for (int attempt = 1;; ++attempt) {
      auto auth = authorization();
      if (!auth) return auth.error();
      http::Request r = req;
      if (!auth->empty()) r.headers.emplace_back("Authorization", *auth);
      r.may_resend = may_repeat;  // a CreateItem that may have been acted on never goes twice
      http::SendInfo info;
      auto res = transport_->send(r, &info);
      Result<std::vector<Message>> out = res.ok() ? ews::parse_response(op, res->status, res->body)
                                                  : Result<std::vector<Message>>(res.error());
      std::optional<Error> transient;
      if (!out.ok()) {
        if (!out.error().retryable()) return out.error().context("EWS " + std::string(op));
        // A transport failure after the request went out, or a server error other than
        // throttling (which refuses before acting): the server may have acted.
        if (!may_repeat &&
            ((!res.ok() && info.request_written) || (res.ok() && !refused_unacted(out.error()))))
          return out.error().context("EWS " + std::string(op));
        transient = out.error();
      } else {
        bool all_refused = true;  // every message throttled: nothing was acted on
        for (const Message& m : *out) {
          if (!m.ok() && ews::error_of(m).retryable()) transient = ews::error_of(m);
          if (m.ok() || !refused_unacted(ews::error_of(m))) all_refused = false;
        }
        // Some messages of a request that must not be repeated were acted on: each one is
        // the caller's to sort out (a batch CreateItem would otherwise make copies).
        if (!transient || (!may_repeat && !all_refused)) return out;
      }
      if (attempt >= config_.max_attempts)
        return transient->context("EWS " + std::string(op) + " after " + std::to_string(attempt) +
                                  " attempts");
      std::chrono::milliseconds wait = backoff;
      if (auto server = transient->retry_after_ms())
        wait = std::max(wait, std::chrono::milliseconds(*server));
      sleep(wait);
      backoff = std::min(backoff * 2, config_.backoff_max);
    }
  }

  // Throttling codes: the server refused the request without acting on it.
  static bool refused_unacted(const Error& e) {
    for (std::string_view code : {"ErrorServerBusy", "ErrorExceededConnectionCount",
                                  "ErrorTooManyObjectsOpened", "ErrorMailboxMoveInProgress"})
      if (e.message().find(code) != std::string::npos) return true;
    return false;
  }

  void sleep(std::chrono::milliseconds d) {
    if (config_.sleep)
      config_.sleep(d);
    else
      std::this_thread::sleep_for(d);
  }

  // The Authorization header; "" for negotiate, which the transport's authenticator adds per
  // connection.
  Result<std::string> authorization() {
    if (config_.auth.type == EwsAuth::Type::kNegotiate) return std::string();
    if (config_.auth.type == EwsAuth::Type::kBearer) {
      auto token = read_secret(config_.auth.token_file, "token");
      if (!token) return token.error();
      return "Bearer " + *token;
    }
    auto password = read_secret(config_.auth.password_file, "password");
    if (!password) return password.error();
    return "Basic " + base64_encode(config_.auth.username + ":" + *password);
  }

  // ------------------------------------------------------------ items

  Error id_error(const Message& m, const EntryId& id) {
    if (m.code == "ErrorInvalidIdMalformed" || m.code == "ErrorInvalidIdNotAnItemAttachmentId")
      return Error::NotFound("item " + id.str() + ": " + m.code);
    return ews::error_of(m).context("item " + id.str());
  }

  Result<void> resolve_folders() {
    if (!folder_ids_.empty()) return Ok();
    std::vector<std::string_view> names;
    for (Folder f : ews::kAllFolders) names.push_back(ews::distinguished_id(f));
    auto msgs = call("GetFolder", ews::get_folders(names), true);
    if (!msgs) return msgs.error();
    if (msgs->size() != names.size())
      return Error::Invalid("GetFolder: one reply per folder expected");
    std::map<std::string, Folder> ids;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const Message& m = (*msgs)[i];
      if (!m.ok()) return ews::error_of(m).context("folder " + std::string(names[i]));
      auto id = ews::folder_id_of(m);
      if (!id) return id.error();
      ids[*id] = ews::kAllFolders[i];
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
    const soap::Element* items = m.element.child(ews::kMNs, "Items");
    if (!items) return Error::Invalid("GetItem reply without Items");
    auto raw = ews::items_of(*items);
    if (!raw) return raw.error();
    if (raw->size() != 1) return Error::Invalid("GetItem reply without one item");
    if (raw->front().ref.id != id.str()) return Error::Invalid("GetItem reply for another item");
    return ews::to_store_item(raw->front(), folder_lookup());
  }

  // create_many's one request: the items at `indexes` (all for `folder`) into `out`.
  void create_batch(Folder folder, const std::vector<NewStoreItem>& items,
                    const std::vector<std::size_t>& indexes, std::vector<Result<StoreItem>>& out) {
    std::vector<std::size_t> sent;
    std::vector<std::string> elements;
    for (std::size_t i : indexes) {
      auto el = ews::item_element(items[i], zone_id_);
      if (!el) {
        out[i] = el.error();
        continue;
      }
      sent.push_back(i);
      elements.push_back(std::move(*el));
    }
    if (sent.empty()) return;
    auto msgs = call("CreateItem", ews::create_items(folder, elements), false);
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
      auto ref = created_ref(m);
      if (!ref) {
        out[sent[k]] = ref.error();
        continue;
      }
      if (auto r = record(folder, *ref, Action::kCreate); !r.ok()) {
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
        if (auto r = remember(folder, ref.id, out[i]->change_key); !r.ok()) out[i] = r.error();
    }
  }

  // The new item's id from a CreateItem response message.
  Result<ItemRef> created_ref(const Message& m, std::string_view what = "create") {
    if (!m.ok()) return ews::error_of(m).context(std::string(what));
    const soap::Element* items = m.element.child(ews::kMNs, "Items");
    if (!items) return Error::Invalid("CreateItem reply without Items");
    auto raw = ews::items_of(*items);
    if (!raw) return raw.error();
    if (raw->size() != 1) return Error::Invalid("CreateItem reply without one item");
    return raw->front().ref;
  }

  // The paged FindItem of a folder's items modified at or after `since`, newest first, each
  // listed item given to `each`.
  Result<void> find_modified(Folder f, UtcTime since, bool headers,
                             const std::function<Result<void>(const ews::RawItem&)>& each) {
    for (int offset = 0;;) {
      auto msgs =
          call("FindItem", ews::find_modified(f, since, offset, config_.page_size, headers), true);
      if (!msgs) return msgs.error();
      const Message& m = msgs->front();
      if (!m.ok()) return ews::error_of(m).context("scan " + std::string(to_string(f)));
      auto page = ews::find_page_of(m);
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
    auto msgs = call("FindItem", ews::find_by_crm_ids(folders, crm_ids), true);
    if (!msgs) return msgs.error();
    for (const Message& m : *msgs) {
      if (!m.ok()) return ews::error_of(m).context("find by CRM id");
      auto page = ews::find_page_of(m);
      if (!page) return page.error();
      for (const auto& raw : page->items)
        if (auto id = CrmId::parse(ews::crm_id_of(raw)); id.ok())
          candidates[*id].push_back(EntryId(raw.ref.id));
    }
    return Ok();
  }

  // Id, change key and synced folder of an item (kNotFound when it is not in one).
  Result<std::pair<ews::RawItem, Folder>> probe_item(const EntryId& id) {
    CRMSYNC_TRY(resolve_folders());
    auto msgs = call("GetItem", ews::get_items({id.str()}, false), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return id_error(m, id);
    const soap::Element* items = m.element.child(ews::kMNs, "Items");
    if (!items) return Error::Invalid("GetItem reply without Items");
    auto raw = ews::items_of(*items);
    if (!raw) return raw.error();
    if (raw->size() != 1) return Error::Invalid("GetItem reply without one item");
    auto folder = folder_lookup()(raw->front().parent_folder_id);
    if (!folder || raw->front().item_class.rfind("IPM.Configuration", 0) == 0)
      return Error::NotFound("item " + id.str() + " is not in a synced folder");
    return std::pair<ews::RawItem, Folder>(std::move(raw->front()), *folder);
  }

  // ------------------------------------------------------------ hidden items

  struct Hidden {
    ItemRef ref;
    std::string created;
    ews::Props props;
  };

  Result<ItemRef> create_hidden(std::string_view item_class, const ews::Props& props) {
    auto msgs = call("CreateItem", ews::create_hidden(item_class, props), false);
    if (!msgs) return msgs.error();
    return created_ref(msgs->front(), "hidden item");
  }

  // Every hidden item of a class, oldest first (creation time, then the queue's sequence).
  Result<std::vector<Hidden>> hidden_items(std::string_view item_class,
                                           const std::vector<std::string>& names) {
    std::vector<std::string> ids;
    for (int offset = 0;;) {
      auto msgs =
          call("FindItem", ews::find_hidden(item_class, {}, offset, config_.page_size), true);
      if (!msgs) return msgs.error();
      const Message& m = msgs->front();
      if (!m.ok()) return ews::error_of(m).context(std::string(item_class));
      auto page = ews::find_page_of(m);
      if (!page) return page.error();
      for (const auto& it : page->items) ids.push_back(it.ref.id);
      offset += static_cast<int>(page->items.size());
      if (page->last || page->items.empty()) break;
    }
    std::vector<Hidden> out;
    const std::size_t batch = static_cast<std::size_t>(std::max(1, config_.get_batch_size));
    for (std::size_t i = 0; i < ids.size(); i += batch) {
      std::vector<std::string> chunk(
          ids.begin() + static_cast<std::ptrdiff_t>(i),
          ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + batch)));
      auto msgs = call("GetItem", ews::get_hidden(chunk, names), true);
      if (!msgs) return msgs.error();
      for (const Message& m : *msgs) {
        if (!m.ok()) {
          if (m.code == "ErrorItemNotFound") continue;  // removed meanwhile
          return ews::error_of(m).context(std::string(item_class));
        }
        const soap::Element* items = m.element.child(ews::kMNs, "Items");
        if (!items) return Error::Invalid("GetItem reply without Items");
        auto raw = ews::items_of(*items);
        if (!raw) return raw.error();
        for (const auto& r : *raw) {
          if (r.item_class != item_class) continue;
          Hidden h;
          h.ref = r.ref;
          if (const soap::Element* c = r.xml.child(ews::kTNs, "DateTimeCreated"))
            h.created = c->text();
          h.props = ews::props_of(r.xml);
          out.push_back(std::move(h));
        }
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const Hidden& a, const Hidden& b) {
      if (a.created != b.created) return a.created < b.created;
      std::string sa = prop(a.props, "QueueSeq"), sb = prop(b.props, "QueueSeq");
      if (sa != sb) return sa < sb;
      return a.ref.id < b.ref.id;
    });
    return out;
  }

  // ------------------------------------------------------------ local state and events

  // The daemon's own write: the item's change key as we know it and its event, at once.
  Result<void> record(Folder folder, const ItemRef& ref, Action action) {
    auto tx = sql::Transaction::begin(db_);
    if (!tx) return tx.error();
    if (action == Action::kDelete) {
      auto del = db_.prepare("DELETE FROM known WHERE entry_id = ?1");
      if (!del) return del.error();
      CRMSYNC_TRY(del->bind(1, ref.id).run());
    } else {
      CRMSYNC_TRY(upsert_known(folder, ref.id, ref.change_key));
    }
    CRMSYNC_TRY(insert_event(ews::kind_of_folder(folder), ref.id, action));
    return tx->commit();
  }

  Result<void> remember(Folder folder, const std::string& id, const std::string& change_key) {
    return upsert_known(folder, id, change_key);
  }

  Result<void> upsert_known(Folder folder, const std::string& id, const std::string& change_key) {
    auto st = db_.prepare(
        "INSERT INTO known(entry_id, folder, change_key) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(entry_id) DO UPDATE SET folder = ?2, change_key = ?3");
    if (!st) return st.error();
    return st->bind(1, id).bind(2, to_string(folder)).bind(3, change_key).run();
  }

  Result<void> insert_event(ItemKind kind, const std::string& id, Action action) {
    StoreEvent e;
    e.kind = kind;
    e.entry_id = EntryId(id);
    e.action = action;
    e.at = clock_.now();
    return change_log().append(e);
  }

  Result<std::int64_t> max_seq() { return change_log().last_seq(); }

  Result<std::vector<StoreEvent>> local_events(std::int64_t after, std::size_t max) {
    return change_log().after(after, max);
  }

  sql::ChangeLog change_log() {
    return sql::ChangeLog(db_, sql::ChangeLog::Layout::kActionOnly, "EWS state file");
  }

  Result<void> sync_all() {
    for (Folder f : ews::kAllFolders)
      if (auto r = sync_folder(f); !r)
        return r.error().context("sync " + std::string(to_string(f)));
    return Ok();
  }

  enum class Mode { kBaseline, kIncremental, kReconcile };

  Result<void> sync_folder(Folder folder) {
    const std::string fname(to_string(folder));
    std::optional<std::string> stored;
    {
      auto st = db_.prepare("SELECT state FROM sync_state WHERE folder = ?1");
      if (!st) return st.error();
      st->bind(1, fname);
      auto row = st->step();
      if (!row) return row.error();
      if (*row) stored = st->text(0);
    }
    // No row: the first sync of this folder sets the baseline without events (the scan, S2,
    // covers what existed before). An empty state: the server refused ours; reconcile.
    Mode mode = !stored ? Mode::kBaseline : stored->empty() ? Mode::kReconcile : Mode::kIncremental;
    std::string state = stored.value_or("");
    std::set<std::string> seen;
    const std::string element = [&] {
      switch (ews::kind_of_folder(folder)) {
        case ItemKind::kContact:
          return std::string("Contact");
        case ItemKind::kTask:
          return std::string("Task");
        case ItemKind::kAppointment:
          return std::string("CalendarItem");
        default:
          return std::string("Message");
      }
    }();
    for (int round = 0; round < 100'000; ++round) {
      auto msgs =
          call("SyncFolderItems", ews::sync_folder_items(folder, state, config_.page_size), true);
      if (!msgs) return msgs.error();
      const Message& m = msgs->front();
      if (!m.ok()) {
        if (m.code == "ErrorInvalidSyncStateData" && !state.empty()) {
          // Full resync, compared with what we know: no duplicate events for unchanged items.
          auto st = db_.prepare(
              "INSERT INTO sync_state(folder, state) VALUES(?1, '') "
              "ON CONFLICT(folder) DO UPDATE SET state = ''");
          if (!st) return st.error();
          CRMSYNC_TRY(st->bind(1, fname).run());
          mode = Mode::kReconcile;
          state.clear();
          seen.clear();
          continue;
        }
        return ews::error_of(m);
      }
      auto page = ews::sync_page_of(m);
      if (!page) return page.error();
      auto tx = sql::Transaction::begin(db_);
      if (!tx) return tx.error();
      for (const auto& ch : page->changes) {
        using T = ews::SyncChange::Type;
        const std::string& id = ch.item.ref.id;
        if (ch.type == T::kReadFlag) continue;
        auto known = known_change_key(id);
        if (!known) return known.error();
        if (ch.type == T::kDelete) {
          if (!*known) continue;  // never known (or our own delete): nothing to report
          auto del = db_.prepare("DELETE FROM known WHERE entry_id = ?1");
          if (!del) return del.error();
          CRMSYNC_TRY(del->bind(1, id).run());
          CRMSYNC_TRY(insert_event(ews::kind_of_folder(folder), id, Action::kDelete));
          continue;
        }
        if (ch.item.element != element || ch.item.item_class.rfind("IPM.Configuration", 0) == 0)
          continue;
        seen.insert(id);
        if (*known && **known == ch.item.ref.change_key) continue;  // our own write, or unchanged
        CRMSYNC_TRY(upsert_known(folder, id, ch.item.ref.change_key));
        if (mode == Mode::kBaseline) continue;
        CRMSYNC_TRY(
            insert_event(ews::kind_of_folder(folder), id,
                         *known || ch.type == T::kUpdate ? Action::kUpdate : Action::kCreate));
      }
      state = page->sync_state;
      const bool done = page->last;
      if (mode == Mode::kReconcile && done) {
        // What we knew in this folder and the server no longer lists: deleted meanwhile.
        auto st = db_.prepare("SELECT entry_id FROM known WHERE folder = ?1");
        if (!st) return st.error();
        st->bind(1, fname);
        std::vector<std::string> gone;
        for (;;) {
          auto row = st->step();
          if (!row) return row.error();
          if (!*row) break;
          if (!seen.count(st->text(0))) gone.push_back(st->text(0));
        }
        for (const auto& id : gone) {
          auto del = db_.prepare("DELETE FROM known WHERE entry_id = ?1");
          if (!del) return del.error();
          CRMSYNC_TRY(del->bind(1, id).run());
          CRMSYNC_TRY(insert_event(ews::kind_of_folder(folder), id, Action::kDelete));
        }
      }
      // Reconcile keeps the old (empty) state until its last page: a crash restarts it.
      if (mode != Mode::kReconcile || done) {
        auto st = db_.prepare(
            "INSERT INTO sync_state(folder, state) VALUES(?1, ?2) "
            "ON CONFLICT(folder) DO UPDATE SET state = ?2");
        if (!st) return st.error();
        CRMSYNC_TRY(st->bind(1, fname).bind(2, state).run());
      }
      CRMSYNC_TRY(tx->commit());
      if (done) return Ok();
    }
    return Error::Internal("SyncFolderItems never reached the last page");
  }

  Result<std::optional<std::string>> known_change_key(const std::string& id) {
    auto st = db_.prepare("SELECT change_key FROM known WHERE entry_id = ?1");
    if (!st) return st.error();
    st->bind(1, id);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(st->text(0));
  }

  // ------------------------------------------------------------ notifications

  // Streaming: one Subscribe, then GetStreamingEvents connections one after another, each a
  // chunked reply of whole envelopes (events, keep-alive OK, Closed at its timeout). Item
  // events start a sync pass, which turns the changes into events. A broken stream is
  // reopened with backoff, a lost subscription renewed, and each (re)connection catches up
  // by a sync pass. Waiting is only an optimisation (S2 scans catch what is missed).
  void follow_stream(std::chrono::milliseconds budget) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_subscribe_) {
      std::this_thread::sleep_for(std::min(
          budget,
          std::chrono::duration_cast<std::chrono::milliseconds>(next_subscribe_ - now + 1ms)));
      return;
    }
    if (!stream_ && !open_stream()) return;
    auto more = stream_->read(stream_buffer_, std::min(budget, config_.request_timeout));
    if (!more.ok()) return drop_stream(true);
    bool changed = false;
    while (auto envelope = ews::take_envelope(stream_buffer_)) {
      auto msgs = ews::parse_response("GetStreamingEvents", stream_->status(), *envelope);
      if (!msgs.ok()) {
        if (refuses_streaming(msgs.error())) streaming_refused_ = true;
        return drop_stream(true);
      }
      for (const Message& m : *msgs) {
        if (!m.ok()) {
          // The subscription expired or is unknown (a server restart): subscribe again.
          stream_subscription_.clear();
          return drop_stream(true);
        }
        auto batch = ews::streaming_events_of(m);
        if (!batch.ok()) return drop_stream(true);
        changed = changed || batch->changes > 0;
        stream_closed_by_server_ = stream_closed_by_server_ || batch->status == "Closed";
        subscribe_backoff_ = 0ms;  // a healthy stream: the next failure backs off from the start
      }
    }
    if (changed) (void)sync_all();
    if (stream_buffer_.size() > config_.max_response_bytes) return drop_stream(true);
    // Closed at its ConnectionTimeout: the next connection follows at once. A body that ended
    // otherwise (an HTTP error without SOAP, a server that hangs up) backs off.
    if (!*more) drop_stream(!stream_closed_by_server_);
  }

  // Subscribes when needed and opens a GetStreamingEvents connection. Refused (the server or
  // transport cannot stream): the pull subscription takes over. Transient failure: backoff.
  bool open_stream() {
    if (stream_subscription_.empty()) {
      auto msgs = call("Subscribe", ews::subscribe_streaming(), true);
      std::optional<ews::Subscription> sub;
      if (msgs.ok() && msgs->front().ok()) {
        if (auto s = ews::subscription_of(msgs->front()); s.ok()) sub = *s;
      } else if (refuses_streaming(msgs.ok() ? ews::error_of(msgs->front()) : msgs.error())) {
        streaming_refused_ = true;
        return false;
      }
      if (!sub) {
        back_off();
        return false;
      }
      stream_subscription_ = sub->id;
    }
    http::Request req = soap_request(
        "GetStreamingEvents",
        ews::get_streaming_events(stream_subscription_, config_.stream_connection_minutes));
    auto auth = authorization();
    if (!auth) {
      back_off();
      return false;
    }
    if (!auth->empty()) req.headers.emplace_back("Authorization", *auth);
    auto stream = transport_->open_stream(req);
    if (!stream.ok()) {
      if (stream.error().is(ErrorKind::kInvalid))
        streaming_refused_ = true;
      else
        back_off();
      return false;
    }
    stream_ = std::move(*stream);
    stream_buffer_.clear();
    stream_closed_by_server_ = false;
    (void)sync_all();  // what changed while no stream was open
    return true;
  }

  void drop_stream(bool failed) {
    stream_.reset();
    stream_buffer_.clear();
    if (failed) back_off();
  }

  void back_off() {
    subscribe_backoff_ = std::min(std::max(subscribe_backoff_ * 2, config_.backoff_base), 60'000ms);
    next_subscribe_ = std::chrono::steady_clock::now() + subscribe_backoff_;
  }

  // A server that does not know streaming subscriptions (before Exchange 2010 SP1) answers
  // with a request error, not a transient or permission one.
  static bool refuses_streaming(const Error& e) {
    return !e.retryable() && !e.is(ErrorKind::kPermission);
  }

  // One GetEvents poll (subscribing first when needed); on any item event, a sync pass turns
  // the changes into events. Failures drop the subscription and back off; waiting is only an
  // optimisation (S2 scans catch what is missed).
  void poll_notifications() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_subscribe_) return;
    if (subscription_.id.empty()) {
      auto msgs = call("Subscribe", ews::subscribe_pull(10), true);
      std::optional<ews::Subscription> sub;
      if (msgs.ok() && msgs->front().ok()) {
        auto s = ews::subscription_of(msgs->front());
        if (s.ok()) sub = *s;
      }
      if (!sub) {
        back_off();
        return;
      }
      subscribe_backoff_ = 0ms;
      subscription_ = *sub;
      (void)sync_all();  // what changed before the subscription started
      return;
    }
    auto msgs = call("GetEvents", ews::get_events(subscription_.id, subscription_.watermark), true);
    if (!msgs.ok() || !msgs->front().ok()) {
      subscription_ = {};  // expired or unknown: resubscribe (then catch up by a sync)
      back_off();
      return;
    }
    auto page = ews::events_of(msgs->front());
    if (!page.ok()) {
      subscription_ = {};
      return;
    }
    if (!page->watermark.empty()) subscription_.watermark = page->watermark;
    if (page->changes > 0) (void)sync_all();
  }

  EwsStoreConfig config_;
  std::string zone_id_;  // the user's zone, Windows id: appointments' StartTimeZone/EndTimeZone
  Clock& clock_;
  std::unique_ptr<http::Transport> transport_;
  sql::Database db_;
  std::map<std::string, Folder> folder_ids_;
  ews::Subscription subscription_;  // the pull fallback's
  bool streaming_refused_ = false;
  std::string stream_subscription_;
  std::unique_ptr<http::BodyStream> stream_;
  std::string stream_buffer_;             // what arrived and is not a whole envelope yet
  bool stream_closed_by_server_ = false;  // this connection's ConnectionStatus Closed came
  std::chrono::steady_clock::time_point next_subscribe_{};
  std::chrono::steady_clock::time_point next_poll_{};
  std::chrono::milliseconds subscribe_backoff_{0};
  std::int64_t queue_counter_ = 0;
};

Result<sql::Database> open_state(const std::string& path) {
  auto db = sql::Database::open(path);
  if (!db) return db.error();
  auto version = db->user_version();
  if (!version) return version.error();
  if (*version > kStateVersion)
    return Error::Corrupt("EWS state file " + path + " has version " + std::to_string(*version) +
                          ", newer than this binary's " + std::to_string(kStateVersion));
  CRMSYNC_TRY(db->use_wal());
  CRMSYNC_TRY(db->exec(
      "CREATE TABLE IF NOT EXISTS sync_state(folder TEXT PRIMARY KEY, state TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS known(entry_id TEXT PRIMARY KEY, folder TEXT NOT NULL,"
      " change_key TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
      " entry_id TEXT NOT NULL, action TEXT NOT NULL, at_ms INTEGER NOT NULL);"));
  if (*version < kStateVersion) CRMSYNC_TRY(db->set_user_version(kStateVersion));
  return db;
}

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
  auto db = open_state(config.state_path);
  if (!db) return db.error();
  return std::unique_ptr<StoreAdapter>(
      new EwsStore(config, std::move(*zone), clock, std::move(transport), std::move(*db)));
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
