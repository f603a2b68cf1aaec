#include "hidden_items.hpp"

#include <algorithm>
#include <cstdio>

#include "crmsync/core/hidden_text.hpp"

namespace crmsync::ews {
namespace {

// The hidden items' named properties.
const std::vector<std::string> kLeaseProps = {"LeaseHolder", "LeaseEpoch", "LeaseExpires"};
const std::vector<std::string> kQueueProps = {"QueueClient", "QueueKind",   "QueueEntryId",
                                              "QueueAction", "QueueDelete", "QueueAt",
                                              "QueueSeq"};

std::string prop(const Props& props, std::string_view name) {
  for (const auto& [n, v] : props)
    if (n == name) return v;
  return {};
}

}  // namespace

Result<LeaseStore::Versioned> HiddenItems::read_lease() {
  auto found = items(kLeaseClass, kLeaseProps);
  if (!found) return found.error();
  Versioned v;
  if (found->empty()) return v;
  const Hidden& h = found->front();
  v.version = h.ref.id + "|" + h.ref.change_key;
  auto record = parse_lease_text(
      {prop(h.props, "LeaseHolder"), prop(h.props, "LeaseEpoch"), prop(h.props, "LeaseExpires")});
  if (!record) return record.error();
  v.record = std::move(*record);
  return v;
}

Result<std::string> HiddenItems::write_lease(const std::string& expected_version,
                                             const LeaseRecord& next) {
  const LeaseText text = lease_text(next);
  Props props = {
      {"LeaseHolder", text.holder}, {"LeaseEpoch", text.epoch}, {"LeaseExpires", text.expires}};
  if (expected_version.empty()) {
    auto existing = items(kLeaseClass, kLeaseProps);
    if (!existing) return existing.error();
    if (!existing->empty()) return Error::Conflict("a lease item exists already");
    auto ref = create(kLeaseClass, props);
    if (!ref) return ref.error();
    // EWS has no create-if-absent. A creator wins only when, reading after its create, it
    // finds its item alone: of two racing creators the later reader sees both (reads follow
    // creates), so at most one wins; when both see both, both withdraw and retry later.
    auto all = items(kLeaseClass, kLeaseProps);
    if (!all) return all.error();
    if (all->size() != 1 || all->front().ref.id != ref->id) {
      (void)caller_.call("DeleteItem", delete_item(ref->id, ItemKind::kEmail, true), true);
      return Error::Conflict("another client created a lease item at the same time");
    }
    return ref->id + "|" + ref->change_key;
  }
  auto bar = expected_version.find('|');
  if (bar == std::string::npos) return Error::Invalid("not a lease version: " + expected_version);
  ItemRef ref{expected_version.substr(0, bar), expected_version.substr(bar + 1)};
  auto msgs = caller_.call("UpdateItem", update_hidden(ref, props), true);
  if (!msgs) return msgs.error();
  const Message& m = msgs->front();
  if (!m.ok()) {
    Error e = error_of(m);
    if (e.is(ErrorKind::kNotFound)) return Error::Conflict("the lease item is gone");
    return e.context("lease");
  }
  auto updated = one_item_in(m, "UpdateItem");
  if (!updated) return updated.error();
  return ref.id + "|" + updated->ref.change_key;
}

Result<void> HiddenItems::enqueue(const QueuedChange& c) {
  const std::int64_t seq = clock_.now().ms * 1000 + (queue_counter_++ % 1000);
  char seq_text[32];
  std::snprintf(seq_text, sizeof seq_text, "%020lld", static_cast<long long>(seq));
  const QueuedText t = queued_text(c);
  Props props = {{"QueueClient", t.client_id},
                 {"QueueKind", t.kind},
                 {"QueueEntryId", t.entry_id},
                 {"QueueAction", t.action},
                 {"QueueDelete", t.delete_in_crm},
                 {"QueueAt", t.at},
                 {"QueueSeq", seq_text}};
  for (const auto& p : props)
    if (!soap::is_xml_text(p.second)) return Error::Invalid("queued change: text XML cannot carry");
  auto ref = create(kQueueClass, props);
  if (!ref) return ref.error();
  return Ok();
}

Result<std::vector<QueuedChange>> HiddenItems::peek(std::size_t max) {
  auto found = items(kQueueClass, kQueueProps);
  if (!found) return found.error();
  std::vector<QueuedChange> out;
  for (const Hidden& h : *found) {
    if (out.size() >= max) break;
    auto c = parse_queued_text(
        {prop(h.props, "QueueClient"), prop(h.props, "QueueKind"), prop(h.props, "QueueEntryId"),
         prop(h.props, "QueueAction"), prop(h.props, "QueueDelete"), prop(h.props, "QueueAt")},
        h.ref.id);
    if (!c) return c.error();
    out.push_back(std::move(*c));
  }
  return out;
}

Result<void> HiddenItems::remove(const std::string& id) {
  auto msgs = caller_.call("DeleteItem", delete_item(id, ItemKind::kEmail, true), true);
  if (!msgs) return msgs.error();
  const Message& m = msgs->front();
  if (!m.ok()) {
    if (m.code == "ErrorInvalidIdMalformed") return Error::NotFound("queue entry " + id);
    return error_of(m).context("queue entry " + id);
  }
  return Ok();
}

Result<std::int64_t> HiddenItems::depth() {
  auto msgs = caller_.call("FindItem", find_hidden(kQueueClass, {}, 0, 1), true);
  if (!msgs) return msgs.error();
  const Message& m = msgs->front();
  if (!m.ok()) return error_of(m).context("queue depth");
  auto page = find_page_of(m);
  if (!page) return page.error();
  return static_cast<std::int64_t>(page->total);
}

Result<ItemRef> HiddenItems::create(std::string_view item_class, const Props& props) {
  auto msgs = caller_.call("CreateItem", create_hidden(item_class, props), false);
  if (!msgs) return msgs.error();
  return created_ref(msgs->front(), "hidden item");
}

Result<std::vector<HiddenItems::Hidden>> HiddenItems::items(std::string_view item_class,
                                                            const std::vector<std::string>& names) {
  const EwsStoreConfig& config = caller_.config();
  std::vector<std::string> ids;
  for (int offset = 0;;) {
    auto msgs =
        caller_.call("FindItem", find_hidden(item_class, {}, offset, config.page_size), true);
    if (!msgs) return msgs.error();
    const Message& m = msgs->front();
    if (!m.ok()) return error_of(m).context(std::string(item_class));
    auto page = find_page_of(m);
    if (!page) return page.error();
    for (const auto& it : page->items) ids.push_back(it.ref.id);
    offset += static_cast<int>(page->items.size());
    if (page->last || page->items.empty()) break;
  }
  std::vector<Hidden> out;
  const std::size_t batch = static_cast<std::size_t>(std::max(1, config.get_batch_size));
  for (std::size_t i = 0; i < ids.size(); i += batch) {
    std::vector<std::string> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(i),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + batch)));
    auto msgs = caller_.call("GetItem", get_hidden(chunk, names), true);
    if (!msgs) return msgs.error();
    for (const Message& m : *msgs) {
      if (!m.ok()) {
        if (m.code == "ErrorItemNotFound") continue;  // removed meanwhile
        return error_of(m).context(std::string(item_class));
      }
      auto raw = items_in(m, "GetItem");
      if (!raw) return raw.error();
      for (const auto& r : *raw) {
        if (r.item_class != item_class) continue;
        Hidden h;
        h.ref = r.ref;
        if (const soap::Element* c = r.xml.child(kTNs, "DateTimeCreated")) h.created = c->text();
        h.props = props_of(r.xml);
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

}  // namespace crmsync::ews
