// The lease and the handoff queue of SPEC §6 as hidden messages: drafts in a hidden mail folder
// ("crmsync", isHidden), their values in single-value extended properties of crmsync's set (the
// names the EWS adapter gives its hidden items' properties). The only compare-and-set Graph is
// seen to honour is a PATCH of an Outlook item with If-Match (412 when its change key moved;
// graph-emulator's README has the evidence), so the lease's version is "id|@odata.etag" and a
// write is that PATCH. Graph has no create-if-absent: a client that creates the first lease item
// reads again and wins only when its item is alone (of two racing creators the later reader
// sees both, so at most one wins).
#include <algorithm>

#include "crmsync/core/hidden_text.hpp"
#include "store.hpp"

namespace crmsync::graph {
namespace {

constexpr std::string_view kFolderName = "crmsync";

const std::string& kind_prop() {
  static const std::string p = named_prop("HiddenKind");
  return p;
}

const std::vector<std::string>& prop_names(std::string_view kind) {
  static const std::vector<std::string> lease = {"LeaseHolder", "LeaseEpoch", "LeaseExpires"};
  static const std::vector<std::string> queue = {"QueueClient", "QueueKind",   "QueueEntryId",
                                                 "QueueAction", "QueueDelete", "QueueAt",
                                                 "QueueSeq"};
  return kind == "lease" ? lease : queue;
}

std::string body_of(std::string_view kind,
                    const std::vector<std::pair<std::string, std::string>>& props, bool with_kind) {
  Doc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  if (with_kind) put(d, "subject", str("crmsync " + std::string(kind), a), a);
  Json arr(rapidjson::kArrayType);
  auto add = [&](const std::string& id, const std::string& value) {
    Json p(rapidjson::kObjectType);
    put(p, "id", str(id, a), a);
    put(p, "value", str(value, a), a);
    arr.PushBack(p, a);
  };
  if (with_kind) add(kind_prop(), std::string(kind));
  for (const auto& [name, value] : props) add(named_prop(name), value);
  put(d, "singleValueExtendedProperties", std::move(arr), a);
  return serialize(d);
}

}  // namespace

struct GraphStoreImpl::Hidden {
  std::string id;
  std::string etag;
  std::string created;
  std::map<std::string, std::string> props;  // by name
};

Result<std::string> GraphStoreImpl::hidden_folder() {
  if (!hidden_folder_.empty()) return hidden_folder_;
  auto stored = state_.meta("folder.hidden");
  if (!stored) return stored.error();
  if (*stored) return hidden_folder_ = **stored;
  Doc d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  put(d, "displayName", str(kFolderName, a), a);
  put(d, "isHidden", Json(true), a);
  auto made = client_.call("POST", client_.url("mailFolders"), serialize(d),
                           CallOptions{false, "", 0}, {409});
  if (!made) return made.error().context("the hidden folder");
  std::string id = made->status == 409 ? "" : text(made->json, "id");
  if (id.empty()) {  // it exists (made by another client): find it
    std::string link = client_.url("mailFolders?includeHiddenFolders=true&$top=100");
    while (!link.empty() && id.empty()) {
      auto list = client_.call("GET", link, "");
      if (!list) return list.error().context("the hidden folder");
      if (const Json* v = member(list->json, "value"); v && v->IsArray())
        for (const auto& f : v->GetArray())
          if (text(f, "displayName") == kFolderName) id = text(f, "id");
      link = text(list->json, "@odata.nextLink");
      if (!link.empty() && link.rfind(client_.mailbox_root(), 0) != 0)
        return Error::Invalid("a folder list link of another mailbox");
    }
    if (id.empty()) return Error::Invalid("the hidden folder exists but is not listed");
  }
  CRMSYNC_TRY(state_.set_meta("folder.hidden", id));
  return hidden_folder_ = id;
}

Result<std::vector<GraphStoreImpl::Hidden>> GraphStoreImpl::hidden_items(std::string_view kind) {
  auto folder = hidden_folder();
  if (!folder) return folder.error();
  std::string expand = "singleValueExtendedProperties($filter=id eq '" + kind_prop() + "'";
  for (const auto& n : prop_names(kind)) expand += " or id eq '" + named_prop(n) + "'";
  expand += ")";
  const std::string filter = "singleValueExtendedProperties/any(ep: ep/id eq '" + kind_prop() +
                             "' and ep/value eq '" + std::string(kind) + "')";
  std::string link =
      client_.url("mailFolders/" + url_encode(*folder) + "/messages?$filter=" + url_encode(filter) +
                  "&$expand=" + url_encode(expand) +
                  "&$select=id,createdDateTime&$top=" + std::to_string(config_.page_size));
  std::vector<Hidden> out;
  for (int pages = 0; !link.empty(); ++pages) {
    if (pages > 10'000) return Error::Internal("the hidden items never ended");
    if (link.rfind(client_.mailbox_root(), 0) != 0)
      return Error::Invalid("a list link of another mailbox");
    auto page = client_.call("GET", link, "");
    if (!page) return page.error().context("crmsync " + std::string(kind) + " items");
    const Json* v = member(page->json, "value");
    if (!v || !v->IsArray()) return Error::Invalid("hidden items: a page without value");
    for (const auto& m : v->GetArray()) {
      Hidden h;
      h.id = text(m, "id");
      h.etag = text(m, "@odata.etag");
      if (h.etag.empty()) h.etag = text(m, "changeKey");
      h.created = text(m, "createdDateTime");
      for (const auto& [id, value] : props_in(m))
        for (const auto& n : prop_names(kind))
          if (id == canonical_prop(named_prop(n))) h.props[n] = value;
      if (!h.id.empty()) out.push_back(std::move(h));
    }
    link = text(page->json, "@odata.nextLink");
  }
  std::stable_sort(out.begin(), out.end(), [](const Hidden& a, const Hidden& b) {
    auto sa = a.props.count("QueueSeq") ? a.props.at("QueueSeq") : "";
    auto sb = b.props.count("QueueSeq") ? b.props.at("QueueSeq") : "";
    if (a.created != b.created) return a.created < b.created;
    if (sa != sb) return sa < sb;
    return a.id < b.id;
  });
  return out;
}

Result<LeaseStore::Versioned> GraphStoreImpl::read_lease() {
  auto items = hidden_items("lease");
  if (!items) return items.error();
  Versioned v;
  if (items->empty()) return v;
  Hidden& h = items->front();
  auto rec = parse_lease_text(
      LeaseText{h.props["LeaseHolder"], h.props["LeaseEpoch"], h.props["LeaseExpires"]});
  if (!rec) return rec.error();
  v.record = *rec;
  v.version = h.id + "|" + h.etag;
  return v;
}

Result<std::string> GraphStoreImpl::write_lease(const std::string& expected,
                                                const LeaseRecord& next) {
  const LeaseText t = lease_text(next);
  const std::vector<std::pair<std::string, std::string>> props = {
      {"LeaseHolder", t.holder}, {"LeaseEpoch", t.epoch}, {"LeaseExpires", t.expires}};
  CRMSYNC_TRY(check_text("LeaseHolder", t.holder));
  auto folder = hidden_folder();
  if (!folder) return folder.error();
  if (expected.empty()) {
    auto existing = hidden_items("lease");
    if (!existing) return existing.error();
    if (!existing->empty()) return Error::Conflict("a lease item exists already");
    auto made =
        client_.call("POST", client_.url("mailFolders/" + url_encode(*folder) + "/messages"),
                     body_of("lease", props, true), CallOptions{false, "", 0});
    if (!made) return made.error().context("lease");
    const std::string id = text(made->json, "id");
    auto all = hidden_items("lease");
    if (!all) return all.error();
    if (all->size() != 1 || all->front().id != id) {
      (void)client_.call("DELETE", client_.url("messages/" + url_encode(id)), "");
      return Error::Conflict("another client created a lease item at the same time");
    }
    return id + "|" + all->front().etag;
  }
  auto bar = expected.find('|');
  if (bar == std::string::npos) return Error::Invalid("not a lease version");
  const std::string id = expected.substr(0, bar);
  auto r =
      client_.call("PATCH", client_.url("messages/" + url_encode(id)),
                   body_of("lease", props, false), CallOptions{true, expected.substr(bar + 1), 0});
  if (!r) {
    if (r.error().is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
    if (r.error().is(ErrorKind::kConflict))
      return Error::Conflict("the lease changed since it was read");
    return r.error().context("lease");
  }
  std::string etag = text(r->json, "@odata.etag");
  if (etag.empty()) etag = text(r->json, "changeKey");
  if (etag.empty()) return Error::Invalid("the lease's PATCH answer has no change key");
  return id + "|" + etag;
}

Result<void> GraphStoreImpl::enqueue(const QueuedChange& c) {
  const std::int64_t seq = clock_.now().ms * 1000 + (queue_counter_++ % 1000);
  char seq_text[32];
  std::snprintf(seq_text, sizeof seq_text, "%020lld", static_cast<long long>(seq));
  const QueuedText t = queued_text(c);
  const std::vector<std::pair<std::string, std::string>> props = {{"QueueClient", t.client_id},
                                                                  {"QueueKind", t.kind},
                                                                  {"QueueEntryId", t.entry_id},
                                                                  {"QueueAction", t.action},
                                                                  {"QueueDelete", t.delete_in_crm},
                                                                  {"QueueAt", t.at},
                                                                  {"QueueSeq", seq_text}};
  for (const auto& p : props) CRMSYNC_TRY(check_text(p.first, p.second));
  auto folder = hidden_folder();
  if (!folder) return folder.error();
  auto made = client_.call("POST", client_.url("mailFolders/" + url_encode(*folder) + "/messages"),
                           body_of("queue", props, true), CallOptions{false, "", 0});
  if (!made) return made.error().context("handoff queue");
  return Ok();
}

Result<std::vector<QueuedChange>> GraphStoreImpl::peek(std::size_t max) {
  auto items = hidden_items("queue");
  if (!items) return items.error();
  std::vector<QueuedChange> out;
  for (auto& h : *items) {
    if (out.size() >= max) break;
    auto c = parse_queued_text(
        QueuedText{h.props["QueueClient"], h.props["QueueKind"], h.props["QueueEntryId"],
                   h.props["QueueAction"], h.props["QueueDelete"], h.props["QueueAt"]},
        h.id);
    if (!c) return Error::Corrupt(c.error().message());
    out.push_back(std::move(*c));
  }
  return out;
}

Result<void> GraphStoreImpl::remove(const std::string& id) {
  auto r = client_.call("DELETE", client_.url("messages/" + url_encode(id)), "");
  if (!r) {
    if (r.error().is(ErrorKind::kNotFound)) return Error::NotFound("queue entry " + id);
    return r.error().context("queue entry " + id);
  }
  return Ok();
}

Result<std::int64_t> GraphStoreImpl::depth() {
  auto items = hidden_items("queue");
  if (!items) return items.error();
  return static_cast<std::int64_t>(items->size());
}

}  // namespace crmsync::graph
